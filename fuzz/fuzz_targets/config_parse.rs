//! Config text as `banyan validate` and every reload see it: parse, run the model's checks,
//! then the router's on whatever parsed, and format every error. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let strict = banyan_model::parse(src);
    if let Err(errs) = &strict {
        let _ = errs.to_string();
    }
    let Ok(partial) = banyan_model::parse_partial(src) else {
        assert!(strict.is_err(), "parse accepted what parse_partial refused");
        return;
    };
    assert_eq!(
        strict.is_ok(),
        partial.errors.is_empty(),
        "parse and parse_partial disagree"
    );
    // As the gateway does: routes whose matchers the model refused take part in no table.
    let mut config = partial.config;
    for &i in &partial.broken_matches {
        if let Some(r) = config.routes.get_mut(i) {
            r.listeners = Some(Vec::new());
        }
    }
    if let Err(errs) = banyan_router::compile(&config) {
        for d in errs {
            let _ = partial.doc.resolve(d).to_string();
        }
    }
});
