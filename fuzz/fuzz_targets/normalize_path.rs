//! The path normaliser on arbitrary input: it must never panic, what it accepts must be a fixed
//! point, and what it returns must carry none of the forms it exists to remove.
#![no_main]

use banyan_router::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = String::from_utf8_lossy(data);
    let Ok(out) = normalize(&path) else {
        return;
    };
    match normalize(&out) {
        Ok(again) => assert_eq!(again, out, "normalising {path:?} twice changed it"),
        Err(e) => panic!("{path:?} normalised to {out:?}, which is then refused: {e}"),
    }
    assert!(out.starts_with('/'), "{path:?} -> {out:?}");
    assert!(!out.contains("//"), "{path:?} -> {out:?}");
    assert!(!out.contains('\\'), "{path:?} -> {out:?}");
    assert!(
        out.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{path:?} -> {out:?}"
    );
    let upper = out.to_ascii_uppercase();
    assert!(
        !upper.contains("%2F") && !upper.contains("%5C"),
        "{path:?} -> {out:?}"
    );
    for seg in out.split('/') {
        let head = seg.split(';').next().unwrap_or(seg);
        assert!(head != "." && head != "..", "{path:?} -> {out:?}");
    }
});
