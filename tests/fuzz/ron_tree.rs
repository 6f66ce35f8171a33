//! A small RON syntax tree for structure-aware mutation: named and anonymous structs, tuples,
//! lists, maps and literals (kept as written), read from a seed file and printed back in a form
//! RON reads the same way. Comments are dropped; `#![enable(..)]` lines are kept.
//!
//! This is a test tool, not a validating parser: it accepts what the crate's seed files use and
//! says `None` for anything else.

/// One RON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `Name(field: value, ..)` or `(field: value, ..)`.
    Struct {
        name: Option<String>,
        fields: Vec<(String, Node)>,
    },
    /// `Name(value, ..)`, `(value, ..)` or `Name()`.
    Tuple {
        name: Option<String>,
        items: Vec<Node>,
    },
    /// `[value, ..]`.
    List(Vec<Node>),
    /// `{key: value, ..}`.
    Map(Vec<(Node, Node)>),
    /// A string, char, number or bare identifier (`true`, `None`, `Fbm`, `inf`), as written.
    Atom(String),
    /// `depth` copies of `open` around `inner`, then `depth` copies of `close` (deep nesting,
    /// printed without recursion).
    Nest {
        open: &'static str,
        close: &'static str,
        depth: usize,
        inner: Box<Node>,
    },
}

/// A parsed file: leading `#![..]` attributes and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub attributes: Vec<String>,
    pub root: Node,
}

impl Doc {
    /// Parses `src`, or `None` if it is not the RON subset this tree knows.
    pub fn parse(src: &str) -> Option<Self> {
        let mut p = Parser { s: src, at: 0 };
        let mut attributes = Vec::new();
        loop {
            p.skip_ws();
            if p.rest().starts_with("#!") {
                let end = p.rest().find(']')? + 1;
                attributes.push(p.rest()[..end].to_owned());
                p.at += end;
            } else {
                break;
            }
        }
        let root = p.value(0)?;
        p.skip_ws();
        p.rest().is_empty().then_some(Self { attributes, root })
    }

    /// One value on one line.
    pub fn print_node(node: &Node) -> String {
        let mut out = String::new();
        print(node, false, 0, &mut out);
        out
    }

    /// The file as text: one field or item per line, indented (`pretty`), or all on one line.
    pub fn print(&self, pretty: bool) -> String {
        let mut out = String::new();
        for a in &self.attributes {
            out.push_str(a);
            out.push('\n');
        }
        print(&self.root, pretty, 0, &mut out);
        out.push('\n');
        out
    }
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn skip_ws(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.at += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                self.at += body.find("*/").map_or(trimmed.len(), |e| e + 4);
            } else {
                return;
            }
        }
    }

    fn eat(&mut self, token: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.at += token.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        let first = rest.chars().next()?;
        if len == 0 || first.is_ascii_digit() {
            return None;
        }
        self.at += len;
        Some(rest[..len].to_owned())
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > 64 {
            return None;
        }
        self.skip_ws();
        let rest = self.rest();
        let c = rest.chars().next()?;
        match c {
            '(' => self.parens(None, depth),
            '[' => {
                self.at += 1;
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value(depth + 1)?);
                    if !self.eat(',') {
                        self.eat(']').then_some(())?;
                        break;
                    }
                }
                Some(Node::List(items))
            }
            '{' => {
                self.at += 1;
                let mut entries = Vec::new();
                while !self.eat('}') {
                    let key = self.value(depth + 1)?;
                    self.eat(':').then_some(())?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                    if !self.eat(',') {
                        self.eat('}').then_some(())?;
                        break;
                    }
                }
                Some(Node::Map(entries))
            }
            '"' | '\'' => {
                let len = quoted_len(rest, c)?;
                self.at += len;
                Some(Node::Atom(rest[..len].to_owned()))
            }
            'r' if rest.starts_with("r\"") || rest.starts_with("r#") => {
                let hashes = rest[1..].chars().take_while(|&h| h == '#').count();
                let close = format!("\"{}", "#".repeat(hashes));
                let body = 2 + hashes;
                let end = rest[body..].find(&close)? + body + close.len();
                self.at += end;
                Some(Node::Atom(rest[..end].to_owned()))
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let len = rest
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| {
                        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
                    })
                    .map_or(rest.len(), |(i, _)| i);
                self.at += len;
                Some(Node::Atom(rest[..len].to_owned()))
            }
            _ => {
                let name = self.ident()?;
                self.skip_ws();
                if self.rest().starts_with('(') {
                    self.parens(Some(name), depth)
                } else {
                    Some(Node::Atom(name))
                }
            }
        }
    }

    /// `( .. )` after an optional name: fields if the first thing is `ident :`.
    fn parens(&mut self, name: Option<String>, depth: usize) -> Option<Node> {
        self.eat('(').then_some(())?;
        let save = self.at;
        let is_struct = self.ident().is_some() && self.eat(':');
        self.at = save;
        if is_struct {
            let mut fields = Vec::new();
            while !self.eat(')') {
                let key = self.ident()?;
                self.eat(':').then_some(())?;
                fields.push((key, self.value(depth + 1)?));
                if !self.eat(',') {
                    self.eat(')').then_some(())?;
                    break;
                }
            }
            Some(Node::Struct { name, fields })
        } else {
            let mut items = Vec::new();
            while !self.eat(')') {
                items.push(self.value(depth + 1)?);
                if !self.eat(',') {
                    self.eat(')').then_some(())?;
                    break;
                }
            }
            Some(Node::Tuple { name, items })
        }
    }
}

/// Bytes of the string or char literal at the start of `rest`, quotes included.
fn quoted_len(rest: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == quote => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn newline(pretty: bool, indent: usize, out: &mut String) {
    if pretty {
        out.push('\n');
        out.extend(std::iter::repeat_n("    ", indent));
    } else {
        out.push(' ');
    }
}

fn print(node: &Node, pretty: bool, indent: usize, out: &mut String) {
    match node {
        Node::Atom(text) => out.push_str(text),
        Node::Struct { name, fields } => {
            out.push_str(name.as_deref().unwrap_or(""));
            out.push('(');
            for (key, value) in fields {
                newline(pretty, indent + 1, out);
                out.push_str(key);
                out.push_str(": ");
                print(value, pretty, indent + 1, out);
                out.push(',');
            }
            if !fields.is_empty() {
                newline(pretty, indent, out);
            }
            out.push(')');
        }
        Node::Tuple { name, items } => {
            out.push_str(name.as_deref().unwrap_or(""));
            out.push('(');
            list_items(items, pretty, indent, out);
            out.push(')');
        }
        Node::List(items) => {
            out.push('[');
            list_items(items, pretty, indent, out);
            out.push(']');
        }
        Node::Map(entries) => {
            out.push('{');
            for (key, value) in entries {
                newline(pretty, indent + 1, out);
                print(key, pretty, indent + 1, out);
                out.push_str(": ");
                print(value, pretty, indent + 1, out);
                out.push(',');
            }
            if !entries.is_empty() {
                newline(pretty, indent, out);
            }
            out.push('}');
        }
        Node::Nest {
            open,
            close,
            depth,
            inner,
        } => {
            out.extend(std::iter::repeat_n(*open, *depth));
            print(inner, false, indent, out);
            out.extend(std::iter::repeat_n(*close, *depth));
        }
    }
}

/// Items on one line when short and simple, else one per line.
fn list_items(items: &[Node], pretty: bool, indent: usize, out: &mut String) {
    let simple = items.len() <= 8 && items.iter().all(|i| matches!(i, Node::Atom(_)));
    for (k, item) in items.iter().enumerate() {
        if simple {
            if k > 0 {
                out.push_str(", ");
            }
        } else {
            newline(pretty, indent + 1, out);
        }
        print(item, pretty, indent + 1, out);
        if !simple {
            out.push(',');
        }
    }
    if !simple && !items.is_empty() {
        newline(pretty, indent, out);
    }
}

impl Node {
    /// Calls `f` on this node and every node inside it, parents first.
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Node)) {
        f(self);
        match self {
            Node::Struct { fields, .. } => fields.iter_mut().for_each(|(_, v)| v.walk_mut(f)),
            Node::Tuple { items, .. } | Node::List(items) => {
                items.iter_mut().for_each(|v| v.walk_mut(f))
            }
            Node::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.walk_mut(f);
                v.walk_mut(f)
            }),
            Node::Nest { inner, .. } => inner.walk_mut(f),
            Node::Atom(_) => {}
        }
    }

    /// Applies `f` to the `pick`-th (modulo their number) node for which `fits` holds; false if
    /// none fits.
    pub fn mutate_nth(
        &mut self,
        pick: usize,
        fits: &dyn Fn(&Node) -> bool,
        f: &mut dyn FnMut(&mut Node),
    ) -> bool {
        let mut count = 0;
        self.walk_mut(&mut |n| count += usize::from(fits(n)));
        if count == 0 {
            return false;
        }
        let target = pick % count;
        let mut seen = 0;
        let mut done = false;
        self.walk_mut(&mut |n| {
            if !done && fits(n) {
                if seen == target {
                    f(n);
                    done = true;
                }
                seen += 1;
            }
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_what_it_reads() {
        let src = "#![enable(implicit_some)]\n// c\n(a: 1, b: Foo(x: \"s,)\", y: [1, -2.5e3, inf]), \
                   c: {\"k\": Some((1, 'x'))}, d: Bar, e: r#\"raw\"#, /* c */ f: ())";
        let doc = Doc::parse(src).unwrap();
        for pretty in [false, true] {
            assert_eq!(Doc::parse(&doc.print(pretty)).unwrap(), doc);
        }
    }
}
