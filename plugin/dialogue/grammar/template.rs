//! The two small languages inside grammar strings: templates (`"#hello.capitalize#, friend"`) and
//! conditions (`"biome = desert & period != night"`). Parsers return the character offset of
//! any mistake, so the caller can turn it into a file line and column.

/// A piece of a template.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Text copied as is.
    Literal(String),
    /// `#name.mod1.mod2#`: a rule or a variable, with modifiers applied in order.
    Symbol {
        /// Rule or variable name.
        name: String,
        /// Modifiers, in order.
        modifiers: Vec<Modifier>,
        /// Character offset of the name in the template (for error messages).
        at: usize,
    },
}

/// What can be done to an expanded symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    /// First letter upper-case.
    Capitalize,
    /// First letter of every word upper-case.
    CapitalizeAll,
    /// Prefixed with "a" or "an".
    A,
    /// Plural (simple English rules).
    S,
    /// All upper-case.
    Upper,
    /// All lower-case.
    Lower,
}

/// Names of the modifiers, for error messages.
pub const MODIFIERS: &str = "capitalize, capitalize_all, a, s, upper, lower";

impl Modifier {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "capitalize" => Modifier::Capitalize,
            "capitalize_all" => Modifier::CapitalizeAll,
            "a" => Modifier::A,
            "s" => Modifier::S,
            "upper" => Modifier::Upper,
            "lower" => Modifier::Lower,
            _ => return None,
        })
    }
}

/// A parse error: character offset in the string and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// Character offset (0-based) where the problem starts.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

fn err(at: usize, message: impl Into<String>) -> SyntaxError {
    SyntaxError {
        at,
        message: message.into(),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// Parses a template. `#` opens and closes a symbol; `\#` (written `\\#` in RON) is a literal `#`.
pub fn parse_template(text: &str) -> Result<Vec<Segment>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'#') => {
                literal.push('#');
                i += 2;
            }
            '#' => {
                let open = i;
                let Some(len) = chars[i + 1..].iter().position(|&c| c == '#') else {
                    return Err(err(
                        open,
                        "`#` opens a symbol that is never closed (add a closing `#`)",
                    ));
                };
                let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                if !literal.is_empty() {
                    out.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                out.push(parse_symbol(&inner, open + 1)?);
                i += len + 2;
            }
            c => {
                literal.push(c);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        out.push(Segment::Literal(literal));
    }
    Ok(out)
}

fn parse_symbol(inner: &str, at: usize) -> Result<Segment, SyntaxError> {
    let mut parts = inner.split('.');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        return Err(err(
            at - 1,
            "empty symbol `##`: write a rule or variable name between the `#`s",
        ));
    }
    if let Some((k, bad)) = name.char_indices().find(|(_, c)| !is_name_char(*c)) {
        return Err(err(
            at + name[..k].chars().count(),
            format!("`{bad}` cannot be part of a symbol name (use a-z, 0-9 and _)"),
        ));
    }
    let mut modifiers = Vec::new();
    let mut offset = at + name.chars().count() + 1;
    for m in parts {
        let modifier = Modifier::parse(m).ok_or_else(|| {
            err(
                offset,
                format!("unknown modifier `.{m}`; known: {MODIFIERS}"),
            )
        })?;
        modifiers.push(modifier);
        offset += m.chars().count() + 1;
    }
    Ok(Segment::Symbol {
        name: name.to_owned(),
        modifiers,
        at,
    })
}

/// A condition: every clause must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Condition {
    /// Clauses joined by `&`.
    pub clauses: Vec<Clause>,
}

/// One test on a variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    /// Variable name.
    pub var: String,
    /// The test.
    pub test: Test,
    /// Character offset of the variable name in the condition.
    pub at: usize,
}

/// What a clause checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// The variable is set (`var`).
    Set,
    /// The variable is not set (`!var`).
    Unset,
    /// Equals (or, for lists, contains) one of the words (`var = a|b`).
    OneOf(Vec<String>),
    /// Equals none of the words (`var != a|b`).
    NoneOf(Vec<String>),
    /// A number below the value (`var < 3`).
    Below(f64),
    /// A number above the value (`var > 3`).
    Above(f64),
}

/// Parses `clause (& clause)*` where a clause is `var`, `!var`, `var = a|b`, `var != a|b`,
/// `var < n` or `var > n`.
pub fn parse_condition(text: &str) -> Result<Condition, SyntaxError> {
    let mut clauses = Vec::new();
    let mut start = 0;
    for part in text.split('&') {
        let len = part.chars().count();
        clauses.push(parse_clause(part, start)?);
        start += len + 1;
    }
    Ok(Condition { clauses })
}

fn parse_clause(part: &str, start: usize) -> Result<Clause, SyntaxError> {
    let lead = part.chars().take_while(|c| c.is_whitespace()).count();
    let body = part.trim();
    let at = start + lead;
    if body.is_empty() {
        return Err(err(
            at,
            "empty condition: expected `var`, `!var`, `var = value`, `var != value`, `var < n` or `var > n`",
        ));
    }
    let name_ok = |name: &str, at: usize| -> Result<(), SyntaxError> {
        if name.is_empty() {
            return Err(err(at, "expected a variable name"));
        }
        match name.char_indices().find(|(_, c)| !is_name_char(*c)) {
            Some((k, c)) => Err(err(
                at + name[..k].chars().count(),
                format!(
                    "`{c}` cannot be part of a variable name (use a-z, 0-9 and _; operators are =, !=, <, >)"
                ),
            )),
            None => Ok(()),
        }
    };
    if let Some(var) = body.strip_prefix('!').filter(|v| !v.starts_with('=')) {
        let var = var.trim();
        name_ok(var, at + 1)?;
        return Ok(Clause {
            var: var.to_owned(),
            test: Test::Unset,
            at: at + 1,
        });
    }
    let ops = ["!=", "=", "<", ">"];
    let found = ops
        .iter()
        .filter_map(|op| body.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())));
    let Some((i, op)) = found else {
        name_ok(body, at)?;
        return Ok(Clause {
            var: body.to_owned(),
            test: Test::Set,
            at,
        });
    };
    let var = body[..i].trim_end();
    name_ok(var, at)?;
    let after = &body[i + op.len()..];
    let value = after.trim();
    let value_at = at
        + body[..i + op.len()].chars().count()
        + after.chars().take_while(|c| c.is_whitespace()).count();
    if value.is_empty() {
        let op_at = at + body[..i].chars().count();
        return Err(err(op_at, format!("`{op}` needs a value after it")));
    }
    let test = match op {
        "<" | ">" => {
            let n: f64 = value
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| {
                    err(
                        value_at,
                        format!("`{op}` compares numbers, but `{value}` is not a number"),
                    )
                })?;
            if op == "<" {
                Test::Below(n)
            } else {
                Test::Above(n)
            }
        }
        _ => {
            if let Some((k, c)) = value
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | ' ' | '\'' | '|')))
            {
                return Err(err(
                    value_at + value[..k].chars().count(),
                    format!(
                        "`{c}` cannot be part of a value (one operator per clause; join clauses with &)"
                    ),
                ));
            }
            let words: Vec<String> = value.split('|').map(|w| w.trim().to_owned()).collect();
            if words.iter().any(String::is_empty) {
                return Err(err(value_at, "empty value in a `a|b` list"));
            }
            if op == "=" {
                Test::OneOf(words)
            } else {
                Test::NoneOf(words)
            }
        }
    };
    Ok(Clause {
        var: var.to_owned(),
        test,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t = parse_template("#hello.capitalize#, #name#! \\# one").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(
            t[0],
            Segment::Symbol {
                name: "hello".into(),
                modifiers: vec![Modifier::Capitalize],
                at: 1
            }
        );
        assert_eq!(t[3], Segment::Literal("! # one".into()));
        assert_eq!(parse_template("ab #oops").unwrap_err().at, 3);
        assert_eq!(parse_template("x ##").unwrap_err().at, 2);
        assert_eq!(parse_template("#a.shout#").unwrap_err().at, 3);
        assert_eq!(parse_template("#Big#").unwrap_err().at, 1);
        assert_eq!(
            parse_template("é #ok#").unwrap()[1],
            Segment::Symbol {
                name: "ok".into(),
                modifiers: vec![],
                at: 3
            }
        );
    }

    #[test]
    fn conditions() {
        let c = parse_condition("biome = desert|beach & !water & turns > 2").unwrap();
        assert_eq!(c.clauses.len(), 3);
        assert_eq!(
            c.clauses[0].test,
            Test::OneOf(vec!["desert".into(), "beach".into()])
        );
        assert_eq!(c.clauses[1].test, Test::Unset);
        assert_eq!(c.clauses[1].at, 24);
        assert_eq!(c.clauses[2].test, Test::Above(2.0));
        assert_eq!(
            parse_condition("biome != snow").unwrap().clauses[0].test,
            Test::NoneOf(vec!["snow".into()])
        );
        assert_eq!(parse_condition("turns < x").unwrap_err().at, 8);
        assert!(parse_condition("a & ").is_err());
        assert!(parse_condition("bio me = x").is_err());
        assert!(parse_condition("biome =").is_err());
        assert_eq!(parse_condition("biome == desert").unwrap_err().at, 7);
    }
}
