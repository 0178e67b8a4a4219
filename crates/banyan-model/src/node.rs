//! A YAML document as a tree of located nodes, and a serde `Deserializer` over it.
//!
//! Why not deserialize the typed config straight from the YAML parser: serde stops at the first
//! error, and an operator wants every error at once. Deserializing from this tree lets us
//! (a) record every unknown field of every mapping, with a "did you mean" hint, and go on;
//! (b) isolate list items ([`Lenient`]), so that one broken route does not hide the errors of the
//! next; (c) point every error at its YAML path, line and column, including the semantic errors
//! found after parsing ([`Node::locate`]).

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::diag::{Diagnostic, Position, did_you_mean};

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

// ---------------------------------------------------------------------------------------------
// Error collection. Parsing is synchronous and single-threaded, so the sink is thread-local and
// only active inside `from_node`.

#[derive(Default)]
struct Sink {
    errors: Vec<Diagnostic>,
    /// Paths of list items left out by [`Lenient`], e.g. `routes[2]`.
    failed_items: Vec<String>,
    /// Paths of the list items being deserialized, innermost last.
    items: Vec<String>,
}

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
    static LAST: RefCell<Option<Diagnostic>> = const { RefCell::new(None) };
    /// Where the mapping values being deserialized are, innermost last: the place of an error
    /// that a type raised after the deserializer handed it a value (a bad duration).
    static VALUES: RefCell<Vec<Position>> = const { RefCell::new(Vec::new()) };
}

fn with_sink(f: impl FnOnce(&mut Sink)) {
    SINK.with(|s| {
        if let Some(sink) = s.borrow_mut().as_mut() {
            f(sink);
        }
    });
}

fn record(d: Diagnostic) {
    with_sink(|s| s.errors.push(d));
}

/// Marks every list item being deserialized as failed: a made-up value stands in somewhere
/// inside them, so nothing downstream may look at them.
fn fail_enclosing_items() {
    with_sink(|s| {
        for item in &s.items {
            if !s.failed_items.contains(item) {
                s.failed_items.push(item.clone());
            }
        }
    });
}

/// What [`from_node`] found.
pub struct Parsed<T> {
    /// The value, when the structure was sound enough to build one.
    pub value: Option<T>,
    pub errors: Vec<Diagnostic>,
    /// Paths of list items (`routes[2]`) that were left out of `value` because they failed.
    pub failed_items: Vec<String>,
}

/// Deserializes `T` from a located tree, collecting every error the tree allows to be found.
pub fn from_node<T: de::DeserializeOwned>(root: &Node) -> Parsed<T> {
    SINK.with(|s| *s.borrow_mut() = Some(Sink::default()));
    let result = T::deserialize(NodeDe {
        node: root,
        path: String::new(),
    });
    let sink = SINK.with(|s| s.borrow_mut().take()).unwrap_or_default();
    LAST.with(|l| l.borrow_mut().take());
    VALUES.with(|v| v.borrow_mut().clear());
    let (mut errors, failed_items) = (sink.errors, sink.failed_items);
    let value = match result {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e.into_diagnostic());
            None
        }
    };
    Parsed {
        value,
        errors,
        failed_items,
    }
}

/// A list item whose errors are recorded without failing the whole list, so that every item of
/// a list is checked. Holds `None` for an item that failed.
#[derive(Debug, Clone)]
pub struct Lenient<T>(pub Option<T>);

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let active = SINK.with(|s| s.borrow().is_some());
        match T::deserialize(d) {
            // A field inside failed and was reported (see `lenient_field`): leave the item out.
            Ok(_) if active && current_item_failed() => Ok(Lenient(None)),
            Ok(v) => Ok(Lenient(Some(v))),
            Err(e) if active => {
                // NodeDe left the located form of this error in LAST.
                match LAST.with(|l| l.borrow_mut().take()) {
                    Some(diag) => record(diag),
                    None => record(Diagnostic::new("", e.to_string())),
                }
                fail_enclosing_items();
                Ok(Lenient(None))
            }
            Err(e) => Err(e),
        }
    }
}

fn current_item_failed() -> bool {
    SINK.with(|s| {
        s.borrow()
            .as_ref()
            .and_then(|s| Some(s.failed_items.contains(s.items.last()?)))
            .unwrap_or(false)
    })
}

/// A field whose error is reported without failing its mapping, so that the mapping's other
/// fields are checked too: the field takes its type's default, and the list items around it
/// are marked failed, so that nothing downstream checks the stand-in. Outside [`from_node`]
/// it is an ordinary field.
pub fn lenient_field<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: de::Deserialize<'de> + Default,
{
    if !SINK.with(|s| s.borrow().is_some()) {
        return T::deserialize(d);
    }
    LAST.with(|l| l.borrow_mut().take());
    match T::deserialize(d) {
        Ok(v) => Ok(v),
        Err(e) => {
            let diag = LAST
                .with(|l| l.borrow_mut().take())
                .unwrap_or_else(|| Diagnostic {
                    position: VALUES.with(|v| v.borrow().last().cloned().unwrap_or_default()),
                    message: e.to_string(),
                    hint: None,
                });
            record(diag);
            fail_enclosing_items();
            Ok(T::default())
        }
    }
}

/// Deserializes a section that has defaults; when it fails, its error is reported and the
/// defaults stand in, so that the rest of the document is still checked.
pub fn lenient_or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: de::Deserialize<'de> + Default,
{
    let item: Lenient<T> = de::Deserialize::deserialize(d)?;
    Ok(item.0.unwrap_or_default())
}

/// Deserializes a list item by item; items that fail are reported and left out.
pub fn lenient_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    let items: Vec<Lenient<T>> = de::Deserialize::deserialize(d)?;
    Ok(items.into_iter().filter_map(|l| l.0).collect())
}

/// The error type of [`NodeDe`]: a message, located once it passes through a node.
#[derive(Debug)]
pub struct DeError {
    msg: String,
    hint: Option<String>,
    located: Option<Position>,
}

impl DeError {
    fn into_diagnostic(self) -> Diagnostic {
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
struct NodeDe<'a> {
    node: &'a Node,
    path: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        #[serde(default)]
        port: u16,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(deserialize_with = "lenient_vec")]
        items: Vec<Item>,
    }

    #[test]
    fn every_unknown_field_and_every_bad_item_is_reported_with_its_line() {
        let src = "items:\n  - name: a\n    prot: 1\n  - name: b\n    port: nope\n  - nmae: c\n";
        let root = Node::parse(src).unwrap();
        let parsed = from_node::<Doc>(&root);
        assert_eq!(
            parsed.failed_items,
            vec!["items[1]", "items[2]"],
            "{:?}",
            parsed.errors
        );
        let (doc, errors) = (parsed.value.unwrap(), parsed.errors);
        assert_eq!(doc.items.len(), 1, "the good item survives");
        let lines: Vec<_> = errors
            .iter()
            .map(|e| (e.position.path.as_str(), e.position.line))
            .collect();
        assert!(lines.contains(&("items[0].prot", 3)), "{errors:?}");
        assert!(lines.contains(&("items[1].port", 5)), "{errors:?}");
        assert!(lines.contains(&("items[2].nmae", 6)), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.message.contains("missing required field `name`"))
        );
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `port`?"));
    }

    #[test]
    fn locate_finds_nested_paths() {
        let root = Node::parse("a:\n  b:\n    - x: 1\n    - x: 2\n").unwrap();
        assert_eq!(root.locate("a.b[1].x").line, 4);
        assert_eq!(root.locate("a.b[1].missing").line, 4);
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = Node::parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.position.line > 0, "{e:?}");
    }
}
