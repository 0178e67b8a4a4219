//! Bytes from an upstream, read as the gateway's HTTP/1.1 client reads a response: head, framing,
//! body. Nothing may panic; a response's end never depends on what follows it, so a kept
//! connection cannot take the next response's bytes for this one's, or this one's for the next.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NEXT: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((flag, wire)) = data.split_first() else {
        return;
    };
    let head_request = flag & 1 == 1;
    let Ok(first) = banyan_proxy::h1::read_response(wire, head_request) else {
        return;
    };
    assert!(!first.status.is_informational(), "an interim head taken as final");
    if head_request || first.status == 204 || first.status == 304 {
        assert!(first.body.is_empty(), "a bodiless response got a body");
    }
    if !first.keep_alive {
        return;
    }
    // A kept connection: the next response, arriving behind this one, must change nothing
    // about this one and be left whole for the next exchange.
    let mut both = wire.to_vec();
    both.extend_from_slice(NEXT);
    let again = banyan_proxy::h1::read_response(&both, head_request).expect("reads again");
    assert_eq!(again.status, first.status);
    assert_eq!(again.body, first.body);
    assert_eq!(again.rest, first.rest + NEXT.len(), "the next response was eaten");
});
