//! A YAML document as a tree of located nodes, and a serde `Deserializer` over it.
//!
//! Why not deserialize the typed config straight from the YAML parser: serde stops at the first
//! error, and an operator wants every error at once. Deserializing from this tree lets us
//! (a) record every unknown field of every mapping, with a "did you mean" hint, and go on;
//! (b) isolate list items ([`Lenient`]) and fields ([`lenient_field`]), so that one broken route
//! or value does not hide the errors of the next; (c) point every error at its YAML path, line and column, including the semantic errors
//! found after parsing ([`Node::locate`]).

use std::fmt;

use serde::de::{self, Visitor};

use crate::diag::{Diagnostic, Position};

/// One YAML node with the line and column it starts at (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Parses YAML text into a located tree. A syntax error is the one error that stops
    /// everything: nothing after it can be trusted.
    pub fn parse(src: &str) -> Result<Node, Diagnostic> {
        if src.trim().is_empty() {
            return Ok(Node {
                kind: NodeKind::Map(Vec::new()),
                line: 1,
                column: 1,
            });
        }
        serde_saphyr::from_str::<Node>(src).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as u32, l.column() as u32))
                .unwrap_or((0, 0));
            // The parser's own Display quotes the surrounding input; keep only its first line so
            // that a secret next to a syntax error is never printed back.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid YAML").to_string();
            Diagnostic {
                position: Position {
                    path: String::new(),
                    line,
                    column,
                },
                message: format!("invalid YAML: {first}"),
                hint: Some("check indentation and quoting near this line".into()),
            }
        })
    }

    /// Finds the position of a path like `routes[3].match.path`. Falls back to the nearest
    /// existing ancestor when the path names something absent (a missing field).
    pub fn locate(&self, path: &str) -> Position {
        let mut node = self;
        for step in split_path(path) {
            let next = match (&node.kind, step) {
                (NodeKind::Map(entries), Step::Key(k)) => entries
                    .iter()
                    .find(|(key, _)| matches!(&key.kind, NodeKind::Str(s) if s == k))
                    .map(|(_, v)| v),
                (NodeKind::Seq(items), Step::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        Position {
            path: path.to_string(),
            line: node.line,
            column: node.column,
        }
    }

    fn describe(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::UInt(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> impl Iterator<Item = Step<'_>> {
    path.split('.').filter(|s| !s.is_empty()).flat_map(|part| {
        let mut steps = Vec::new();
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                steps.push(Step::Index(i));
            }
            rest = &rest[end + 1..];
        }
        steps
    })
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node {
            kind: s.value,
            line: s.referenced.line() as u32,
            column: s.referenced.column() as u32,
        })
    }
}

impl<'de> de::Deserialize<'de> for NodeKind {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<NodeKind, E> {
                Ok(NodeKind::Null)
            }
            fn visit_none<E>(self) -> Result<NodeKind, E> {
                Ok(NodeKind::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
                de::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<NodeKind, E> {
                Ok(NodeKind::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<NodeKind, E> {
                Ok(NodeKind::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<NodeKind, E> {
                Ok(NodeKind::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<NodeKind, E> {
                Ok(NodeKind::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<NodeKind, E> {
                Ok(NodeKind::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<NodeKind, E> {
                Ok(NodeKind::Str(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<NodeKind, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = a.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(NodeKind::Seq(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<NodeKind, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = a.next_key::<Node>()? {
                    let v = a.next_value::<Node>()?;
                    entries.push((k, v));
                }
                Ok(NodeKind::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

mod collect;
mod deserializer;
#[cfg(test)]
mod tests;

pub use collect::{Lenient, Parsed, from_node, lenient_field, lenient_or_default, lenient_vec};
pub use deserializer::DeError;
