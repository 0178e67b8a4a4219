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
