//! Bytes from a client, read as the gateway's HTTP/1.1 server reads a request: head, framing,
//! body. Nothing may panic; a request's end never depends on what follows it, so a pipelined
//! request can never be taken into this one's body, nor this one's body for a request.
#![no_main]

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use libfuzzer_sys::fuzz_target;

const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n";

fuzz_target!(|wire: &[u8]| {
    let Ok(Some(first)) = banyan_proxy::h1_server::read_request(wire) else {
        return;
    };
    let h = first.request.headers();
    assert!(
        !(h.contains_key(CONTENT_LENGTH) && h.contains_key(TRANSFER_ENCODING)),
        "a request with two framings was accepted"
    );
    // What the parser noted on the way is what the map holds.
    assert_eq!(first.known, banyan_proxy::proxy::Known::of(h));
    // The same request with another behind it: nothing about this one may change, and the
    // next must be left whole.
    let mut both = wire.to_vec();
    both.extend_from_slice(NEXT);
    let again = banyan_proxy::h1_server::read_request(&both)
        .expect("reads again")
        .expect("complete again");
    assert_eq!(again.request.method(), first.request.method());
    assert_eq!(again.request.uri(), first.request.uri());
    assert_eq!(again.request.headers(), first.request.headers());
    assert_eq!(again.body, first.body);
    assert_eq!(again.rest, first.rest + NEXT.len(), "the next request was eaten");
});
