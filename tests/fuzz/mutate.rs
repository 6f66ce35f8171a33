//! Mutations, as proptest values (so a failing case shrinks to the fewest, simplest steps):
//! structure-aware ones on a RON tree, and byte-level ones on any file.

use proptest::prelude::*;

use crate::ron_tree::{Doc, Node};

/// Field names no kind has: a struct that accepts one silently is a bug.
pub const UNKNOWN_FIELD: &str = "zz_fuzz_unknown";

/// Numbers that break careless code: limits of every integer width, overflow by one, negative
/// zero, subnormals, the largest and beyond-largest floats, NaN and the infinities.
pub const EXTREMES: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "-1",
    "1",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "0x7fffffff",
    "0b1",
    "1e308",
    "1e309",
    "-1e309",
    "1e-320",
    "3.4028235e38",
    "3.5e38",
    "-3.5e38",
    "1e-46",
    "NaN",
    "inf",
    "-inf",
    "+inf",
    "-NaN",
    "1_000_000",
    "1e10",
    "0.5",
    "1.",
    ".5",
];

/// Values of other types, to put where anything else stood.
fn retyped(which: u8) -> Node {
    let atom = |s: &str| Node::Atom(s.to_owned());
    match which % 12 {
        0 => atom("0"),
        1 => atom("-1.5"),
        2 => atom("\"text\""),
        3 => atom("true"),
        4 => Node::List(vec![]),
        5 => Node::Map(vec![]),
        6 => Node::Tuple {
            name: None,
            items: vec![],
        },
        7 => Node::Tuple {
            name: Some("Some".into()),
            items: vec![atom("1")],
        },
        8 => atom("None"),
        9 => atom("'c'"),
        10 => atom("Unknown"),
        _ => Node::Struct {
            name: None,
            fields: vec![("a".into(), atom("1"))],
        },
    }
}

/// Fragments of RON syntax and awkward text, for byte insertion.
pub const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "'",
    "/*",
    "*/",
    "//",
    "\\",
    "r#\"",
    "#",
    "#![enable(implicit_some)]\n",
    "#![enable(unwrap_newtypes)]\n",
    "#![enable(unwrap_variant_newtypes)]\n",
    "Some(",
    "None",
    "\u{feff}",
    "é",
    "\u{0}",
    "\n",
    "\r\n",
    "\t",
    "-",
    "0x",
    "1e",
    "inf",
    "NaN",
    "\u{10ffff}",
    "\u{202e}",
    "b\"",
    "\\u{d800}",
    "zz_fuzz_unknown: 1,",
];

/// One structure-aware step on a RON tree. `pick` chooses among the nodes the step fits.
#[derive(Clone, Debug)]
pub enum RonOp {
    /// Remove a field.
    DropField(usize, usize),
    /// Repeat a field right after itself.
    DuplicateField(usize, usize),
    /// Replace any value by one of another type.
    Retype(usize, u8),
    /// Rotate the fields of a struct, or the items of a list or map.
    Reorder(usize, usize),
    /// Put an extreme number where a number was.
    Extreme(usize, usize),
    /// Make a list (or string) very long.
    Huge(usize, u8),
    /// Wrap a value in many brackets.
    Deep(usize, u8, u16),
    /// Add a field no kind has ([`UNKNOWN_FIELD`]) to a struct.
    UnknownField(usize),
    /// Misspell a field's name.
    RenameField(usize, usize),
}

/// Steps that keep a valid file valid (and its value equal).
#[derive(Clone, Debug)]
pub enum SameOp {
    /// Rotate the fields of a struct.
    ReorderFields(usize, usize),
}

pub fn ron_op() -> impl Strategy<Value = RonOp> {
    let p = any::<usize>();
    prop_oneof![
        3 => (p, any::<usize>()).prop_map(|(a, b)| RonOp::DropField(a, b)),
        2 => (p, any::<usize>()).prop_map(|(a, b)| RonOp::DuplicateField(a, b)),
        3 => (p, any::<u8>()).prop_map(|(a, b)| RonOp::Retype(a, b)),
        2 => (p, any::<usize>()).prop_map(|(a, b)| RonOp::Reorder(a, b)),
        4 => (p, 0..EXTREMES.len()).prop_map(|(a, b)| RonOp::Extreme(a, b)),
        1 => (p, any::<u8>()).prop_map(|(a, b)| RonOp::Huge(a, b)),
        1 => (p, any::<u8>(), 1..5000u16).prop_map(|(a, b, c)| RonOp::Deep(a, b, c)),
        1 => p.prop_map(RonOp::UnknownField),
        1 => (p, any::<usize>()).prop_map(|(a, b)| RonOp::RenameField(a, b)),
    ]
}

pub fn same_op() -> impl Strategy<Value = SameOp> {
    (any::<usize>(), any::<usize>()).prop_map(|(a, b)| SameOp::ReorderFields(a, b))
}

fn is_struct(n: &Node) -> bool {
    matches!(n, Node::Struct { fields, .. } if !fields.is_empty())
}

fn is_number(n: &Node) -> bool {
    matches!(n, Node::Atom(a) if a.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        || a == "inf" || a == "NaN")
}

impl RonOp {
    /// Applies the step; false if the tree has nothing it fits.
    pub fn apply(&self, doc: &mut Doc) -> bool {
        let root = &mut doc.root;
        match *self {
            RonOp::DropField(pick, k) => root.mutate_nth(pick, &is_struct, &mut |n| {
                if let Node::Struct { fields, .. } = n {
                    fields.remove(k % fields.len());
                }
            }),
            RonOp::DuplicateField(pick, k) => root.mutate_nth(pick, &is_struct, &mut |n| {
                if let Node::Struct { fields, .. } = n {
                    let k = k % fields.len();
                    fields.insert(k + 1, fields[k].clone());
                }
            }),
            RonOp::Retype(pick, which) => root.mutate_nth(pick, &|_| true, &mut |n| {
                *n = retyped(which);
            }),
            RonOp::Reorder(pick, by) => root.mutate_nth(
                pick,
                &|n| match n {
                    Node::Struct { fields, .. } => fields.len() > 1,
                    Node::List(items) => items.len() > 1,
                    Node::Map(entries) => entries.len() > 1,
                    _ => false,
                },
                &mut |n| match n {
                    Node::Struct { fields, .. } => {
                        let len = fields.len();
                        fields.rotate_left(1 + by % (len - 1));
                    }
                    Node::List(items) => {
                        let len = items.len();
                        items.rotate_left(1 + by % (len - 1));
                    }
                    Node::Map(entries) => {
                        let len = entries.len();
                        entries.rotate_left(1 + by % (len - 1));
                    }
                    _ => {}
                },
            ),
            RonOp::Extreme(pick, which) => root.mutate_nth(pick, &is_number, &mut |n| {
                *n = Node::Atom(EXTREMES[which % EXTREMES.len()].to_owned());
            }),
            RonOp::Huge(pick, size) => root.mutate_nth(
                pick,
                &|n| matches!(n, Node::List(_)) || matches!(n, Node::Atom(a) if a.starts_with('"')),
                &mut |n| {
                    let len = [100, 1_000, 20_000, 200_000][usize::from(size % 4)];
                    match n {
                        Node::List(items) => {
                            let item = items.first().cloned().unwrap_or(Node::Atom("1".into()));
                            // At most a few megabytes of text, whatever the item.
                            let size = Doc::print_node(&item).len() + 2;
                            *items = vec![item; len.min(4_000_000 / size).max(1)];
                        }
                        Node::Atom(a) => *a = format!("\"{}\"", "ab ".repeat(len * 5)),
                        _ => {}
                    }
                },
            ),
            RonOp::Deep(pick, style, depth) => root.mutate_nth(pick, &|_| true, &mut |n| {
                let (open, close) = [("[", "]"), ("(", ")"), ("Some(", ")"), ("{\"k\":", "}")]
                    [usize::from(style % 4)];
                let inner = Box::new(std::mem::replace(n, Node::Atom(String::new())));
                *n = Node::Nest {
                    open,
                    close,
                    depth: usize::from(depth),
                    inner,
                };
            }),
            RonOp::UnknownField(pick) => root.mutate_nth(pick, &is_struct, &mut |n| {
                if let Node::Struct { fields, .. } = n {
                    fields.push((UNKNOWN_FIELD.to_owned(), Node::Atom("1".into())));
                }
            }),
            RonOp::RenameField(pick, k) => root.mutate_nth(pick, &is_struct, &mut |n| {
                if let Node::Struct { fields, .. } = n {
                    let k = k % fields.len();
                    fields[k].0.push_str("_zz");
                }
            }),
        }
    }
}

impl SameOp {
    pub fn apply(&self, doc: &mut Doc) -> bool {
        let SameOp::ReorderFields(pick, by) = *self;
        doc.root.mutate_nth(
            pick,
            &|n| matches!(n, Node::Struct { fields, .. } if fields.len() > 1),
            &mut |n| {
                if let Node::Struct { fields, .. } = n {
                    let len = fields.len();
                    fields.rotate_left(1 + by % (len - 1));
                }
            },
        )
    }
}

/// One byte-level step on any file. Positions are fractions of the length (in 1/65536), so a
/// step means the same place in a file of any size.
#[derive(Clone, Debug)]
pub enum ByteOp {
    /// Keep only the bytes before the position.
    Cut(u16),
    /// Insert a syntax fragment.
    InsertFragment(u16, usize),
    /// Insert raw bytes.
    InsertBytes(u16, Vec<u8>),
    /// Overwrite one byte.
    Set(u16, u8),
    /// Remove a few bytes.
    Remove(u16, u8),
}

pub fn byte_op() -> impl Strategy<Value = ByteOp> {
    let at = any::<u16>();
    prop_oneof![
        1 => at.prop_map(ByteOp::Cut),
        3 => (at, 0..FRAGMENTS.len()).prop_map(|(a, f)| ByteOp::InsertFragment(a, f)),
        2 => (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| ByteOp::InsertBytes(a, b)),
        3 => (at, any::<u8>()).prop_map(|(a, b)| ByteOp::Set(a, b)),
        1 => (at, 1..16u8).prop_map(|(a, n)| ByteOp::Remove(a, n)),
    ]
}

impl ByteOp {
    pub fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |frac: u16, len: usize| (len as u64 * u64::from(frac) / 65536) as usize;
        match self {
            ByteOp::Cut(f) => bytes.truncate(at(*f, bytes.len())),
            ByteOp::InsertFragment(f, which) => {
                let i = at(*f, bytes.len() + 1);
                let frag = FRAGMENTS[*which % FRAGMENTS.len()].as_bytes();
                bytes.splice(i..i, frag.iter().copied());
            }
            ByteOp::InsertBytes(f, new) => {
                let i = at(*f, bytes.len() + 1);
                bytes.splice(i..i, new.iter().copied());
            }
            ByteOp::Set(f, b) => {
                if !bytes.is_empty() {
                    let i = at(*f, bytes.len());
                    bytes[i] = *b;
                }
            }
            ByteOp::Remove(f, n) => {
                let i = at(*f, bytes.len());
                let end = (i + usize::from(*n)).min(bytes.len());
                bytes.drain(i..end);
            }
        }
    }
}
