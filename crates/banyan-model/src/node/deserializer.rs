//! The serde `Deserializer` over a located tree: errors carry their path, line and column.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::collect::{LAST, VALUES, record, with_sink};
use super::{Node, NodeKind};
use crate::diag::{Diagnostic, Position, did_you_mean};

/// The error type of [`NodeDe`]: a message, located once it passes through a node.
#[derive(Debug)]
pub struct DeError {
    msg: String,
    hint: Option<String>,
    located: Option<Position>,
}

impl DeError {
    pub(super) fn into_diagnostic(self) -> Diagnostic {
        Diagnostic {
            position: self.located.unwrap_or_default(),
            message: self.msg,
            hint: self.hint,
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            msg: msg.to_string(),
            hint: None,
            located: None,
        }
    }

    // serde's default quotes the offending value; a value may be a secret, so name its kind only.
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Str(_) => "a string".to_string(),
            other => other.to_string(),
        };
        Self::custom(format_args!("expected {exp}, found {found}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::custom(format_args!(
            "unknown value `{variant}`, expected one of: {}",
            expected.join(", ")
        ));
        e.hint =
            did_you_mean(variant, expected.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Self::custom(format_args!("missing required field `{field}`"));
        e.hint = Some(format!("add `{field}:` to this mapping"));
        e
    }
}

/// Deserializer over one node; `path` is the node's path in the document.
pub(super) struct NodeDe<'a> {
    pub(super) node: &'a Node,
    pub(super) path: String,
}

impl NodeDe<'_> {
    fn locate(&self, mut e: DeError) -> DeError {
        if e.located.is_none() {
            e.located = Some(Position {
                path: self.path.clone(),
                line: self.node.line,
                column: self.node.column,
            });
            let d = Diagnostic {
                position: e.located.clone().unwrap_or_default(),
                message: e.msg.clone(),
                hint: e.hint.clone(),
            };
            LAST.with(|l| *l.borrow_mut() = Some(d));
        }
        e
    }

    fn wrong(&self, exp: &str) -> DeError {
        self.locate(de::Error::custom(format_args!(
            "expected {exp}, found {}",
            self.node.describe()
        )))
    }

    fn child_key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

fn scalar_string(n: &Node) -> Option<String> {
    match &n.kind {
        NodeKind::Str(s) => Some(s.clone()),
        NodeKind::Int(i) => Some(i.to_string()),
        NodeKind::UInt(u) => Some(u.to_string()),
        NodeKind::Float(f) => Some(f.to_string()),
        NodeKind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Null => v.visit_unit(),
            NodeKind::Bool(b) => v.visit_bool(*b),
            NodeKind::Int(i) => v.visit_i64(*i),
            NodeKind::UInt(u) => v.visit_u64(*u),
            NodeKind::Float(f) => v.visit_f64(*f),
            NodeKind::Str(s) => v.visit_str(s),
            NodeKind::Seq(items) => v.visit_seq(SeqDe {
                items: items.iter(),
                index: 0,
                path: &self.path,
            }),
            NodeKind::Map(entries) => v.visit_map(MapDe::new(entries.iter().collect(), &self.path)),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match scalar_string(self.node) {
            Some(s) => v.visit_string(s).map_err(|e| self.locate(e)),
            None => Err(self.wrong("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        let (node, path) = (self.node, self.path.clone());
        v.visit_newtype_struct(self)
            .map_err(|e| NodeDe { node, path }.locate(e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Seq(_) => self.deserialize_any(v),
            _ => Err(self.wrong("a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Map(_) => self.deserialize_any(v),
            _ => Err(self.wrong("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let NodeKind::Map(entries) = &self.node.kind else {
            return Err(self.wrong("a mapping"));
        };
        // Report every unknown key now and hide it from the visitor, so that parsing goes on
        // and finds the next one.
        let mut known = Vec::with_capacity(entries.len());
        for entry @ (k, _) in entries {
            let name = scalar_string(k).unwrap_or_default();
            if fields.contains(&name.as_str()) {
                known.push(entry);
                continue;
            }
            let hint = match did_you_mean(&name, fields.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known fields here: {}", fields.join(", ")),
            };
            record(Diagnostic {
                position: Position {
                    path: self.child_key(&name),
                    line: k.line,
                    column: k.column,
                },
                message: format!("unknown field `{name}`"),
                hint: Some(hint),
            });
        }
        v.visit_map(MapDe::new(known, &self.path))
            .map_err(|e| self.locate(e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Str(s) => v
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: DeError| self.locate(e)),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, val) = &entries[0];
                let name = scalar_string(k).unwrap_or_default();
                let path = self.child_key(&name);
                v.visit_enum(EnumDe {
                    variant: name,
                    value: NodeDe { node: val, path },
                })
                .map_err(|e| self.locate(e))
            }
            _ => Err(self.wrong("a string or a mapping with one key")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct
    }
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'p str,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        with_sink(|s| s.items.push(path.clone()));
        let here = NodeDe {
            node,
            path: path.clone(),
        };
        let r = seed
            .deserialize(NodeDe { node, path })
            .map(Some)
            .map_err(|e| here.locate(e));
        with_sink(|s| {
            s.items.pop();
        });
        r
    }
}

struct MapDe<'a, 'p> {
    entries: std::vec::IntoIter<&'a (Node, Node)>,
    value: Option<NodeDe<'a>>,
    path: &'p str,
}

impl<'a, 'p> MapDe<'a, 'p> {
    fn new(entries: Vec<&'a (Node, Node)>, path: &'p str) -> Self {
        Self {
            entries: entries.into_iter(),
            value: None,
            path,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        let name = scalar_string(k).unwrap_or_default();
        let path = if self.path.is_empty() {
            name
        } else {
            format!("{}.{name}", self.path)
        };
        self.value = Some(NodeDe {
            node: v,
            path: path.clone(),
        });
        seed.deserialize(NodeDe { node: k, path }).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            // Errors raised after the value was read (a bad duration) belong to the value.
            Some(de) => {
                let here = NodeDe {
                    node: de.node,
                    path: de.path.clone(),
                };
                VALUES.with(|v| {
                    v.borrow_mut().push(Position {
                        path: here.path.clone(),
                        line: here.node.line,
                        column: here.node.column,
                    })
                });
                let r = seed.deserialize(de).map_err(|e| here.locate(e));
                VALUES.with(|v| v.borrow_mut().pop());
                r
            }
            None => Err(de::Error::custom("value without a key")),
        }
    }
}

struct EnumDe<'a> {
    variant: String,
    value: NodeDe<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumDe<'a> {
    type Error = DeError;
    type Variant = NodeDe<'a>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, NodeDe<'a>), DeError> {
        let v = seed.deserialize(self.variant.into_deserializer())?;
        Ok((v, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'_> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        match self.node.kind {
            NodeKind::Null => Ok(()),
            _ => Err(self.wrong("no value")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self, "", fields, v)
    }
}
