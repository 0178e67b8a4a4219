//! Error collection: every error the tree allows to be found is recorded, and parsing goes on
//! past list items ([`Lenient`]) and fields ([`lenient_field`]) that failed.

use std::cell::RefCell;

use serde::de;

use super::Node;
use super::deserializer::NodeDe;
use crate::diag::{Diagnostic, Position};

// Parsing is synchronous and single-threaded, so the sink is thread-local and only active
// inside `from_node`.

#[derive(Default)]
pub(super) struct Sink {
    errors: Vec<Diagnostic>,
    /// Paths of list items left out by [`Lenient`], e.g. `routes[2]`.
    failed_items: Vec<String>,
    /// Paths of the list items being deserialized, innermost last.
    pub(super) items: Vec<String>,
}

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
    pub(super) static LAST: RefCell<Option<Diagnostic>> = const { RefCell::new(None) };
    /// Where the mapping values being deserialized are, innermost last: the place of an error
    /// that a type raised after the deserializer handed it a value (a bad duration).
    pub(super) static VALUES: RefCell<Vec<Position>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn with_sink(f: impl FnOnce(&mut Sink)) {
    SINK.with(|s| {
        if let Some(sink) = s.borrow_mut().as_mut() {
            f(sink);
        }
    });
}

pub(super) fn record(d: Diagnostic) {
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
