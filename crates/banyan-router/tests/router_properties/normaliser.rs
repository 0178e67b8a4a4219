//! The path normaliser: idempotent, never emits an ambiguous form, leaves plain paths alone,
//! and refuses a double encoding however it is spelt.

use banyan_router::{PathError, normalize};
use proptest::prelude::*;
use proptest::sample::select;

use super::proptest_config;

/// Path-like input: mostly absolute, built from the pieces the normaliser treats specially.
fn path_input() -> impl Strategy<Value = String> {
    let piece = select(vec![
        "/", "//", "a", "b", ".", "..", ";", "~", "%", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C",
        "%25", "%252e", "%252F", "%2500", "%41", "%3a", "%7e", "%00", "%7f", "%zz", "%4", "\\",
        // Escaped hex digits, which decode into a second encoding: `%25%32f` is `%252f`.
        "%32", "%35", "%30", "%66", "%46", "%63", "%65", " ", "\u{e9}", "\t", "?",
    ]);
    (
        prop::bool::weighted(0.9),
        prop::collection::vec(piece, 0..16),
    )
        .prop_map(|(slash, pieces)| {
            let body = pieces.concat();
            if slash { format!("/{body}") } else { body }
        })
}

/// Like [`path_input`] with no `%` and no `//`: what the normaliser's fast path sees.
fn plain_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => path_input(),
        1 => any::<String>().prop_map(|s| format!("/{s}")),
    ]
    .prop_map(|p| {
        let mut p = p.replace('%', "");
        while p.contains("//") {
            p = p.replace("//", "/");
        }
        p
    })
}

fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![4 => path_input(), 1 => any::<String>()]
}

proptest! {
    #![proptest_config(proptest_config(2048))]

    #[test]
    fn normalising_twice_changes_nothing(p in any_path()) {
        if let Ok(once) = normalize(&p) {
            let twice = normalize(&once);
            prop_assert_eq!(twice.as_deref(), Ok(&*once), "{:?}", p);
        }
    }

    #[test]
    fn normalised_paths_are_unambiguous(p in any_path()) {
        let Ok(out) = normalize(&p) else {
            return Ok(());
        };
        prop_assert!(out.starts_with('/'), "{:?} -> {:?}", p, out);
        prop_assert!(!out.contains("//"), "{:?} -> {:?}", p, out);
        prop_assert!(!out.contains('\\'), "{:?} -> {:?}", p, out);
        let upper = out.to_ascii_uppercase();
        prop_assert!(!upper.contains("%2F") && !upper.contains("%5C"), "{:?} -> {:?}", p, out);
        prop_assert!(out.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{:?} -> {:?}", p, out);
        for seg in out.split('/') {
            let head = seg.split(';').next().unwrap_or(seg);
            prop_assert!(head != "." && head != "..", "{:?} -> {:?}", p, out);
        }
    }

    /// `%25` then the hex of a separator, dot or control byte is refused however each hex digit
    /// is spelt (raw, or itself escaped), since each spelling normalises to the same `%25XY`.
    #[test]
    fn double_encoding_is_refused_however_its_digits_are_spelt(
        byte in prop_oneof![Just(b'.'), Just(b'/'), Just(b'\\'), Just(0x7f), 0u8..=0x1f],
        escaped in (any::<bool>(), any::<bool>()),
        upper in (any::<bool>(), any::<bool>()),
        prefix in select(vec!["", "/a", "/a/b"]),
    ) {
        let spell = |nibble: u8, escaped: bool, upper: bool| {
            let digit = char::from_digit(u32::from(nibble), 16).expect("nibble");
            let digit = if upper { digit.to_ascii_uppercase() } else { digit };
            if escaped { format!("%{:02X}", digit as u32) } else { digit.to_string() }
        };
        let path = format!(
            "{prefix}/%25{}{}",
            spell(byte >> 4, escaped.0, upper.0),
            spell(byte & 0xf, escaped.1, upper.1)
        );
        prop_assert_eq!(normalize(&path), Err(PathError::DoubleEncoded), "{}", path);
    }

    #[test]
    fn accepted_paths_without_escapes_or_double_slashes_pass_unchanged(p in plain_path()) {
        if let Ok(out) = normalize(&p) {
            prop_assert_eq!(&*out, p.as_str());
        }
    }
}
