use proptest::prelude::*;

use http::{HeaderMap, StatusCode};

use super::body::{Chunk, Step, decode_chunk};
use super::head::{Framing, Head, parse_head};
use super::*;

fn head(text: &str) -> Result<Option<Head>, Error> {
    head_of(text, false)
}

fn head_of(text: &str, head_request: bool) -> Result<Option<Head>, Error> {
    parse_head(
        &mut BytesMut::from(text),
        &mut Vec::new(),
        &mut Default::default(),
        &mut 0,
        head_request,
    )
}

/// Parses the head of a response to a GET at the front of `buf`, counting interim heads in
/// `interim`.
fn parse_buf(buf: &mut BytesMut, interim: &mut usize) -> Result<Option<Head>, Error> {
    parse_head(
        buf,
        &mut Vec::new(),
        &mut Default::default(),
        interim,
        false,
    )
}

fn framing(text: &str) -> (Framing, bool) {
    match head(text) {
        Ok(Some(h)) => (h.framing, h.keep_alive),
        other => panic!(
            "{text:?} did not parse: {:?}",
            other.map(|h| h.map(|h| h.status))
        ),
    }
}

fn refused(text: &str) -> bool {
    matches!(head(text), Err(Error::Malformed(_)))
}

#[test]
fn the_framing_follows_rfc_9112() {
    use Framing::*;
    let cases = [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            (Length(5), true),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            (Length(5), true),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            (Chunked, true),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
            (Chunked, true),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            (Close, false),
        ),
        ("HTTP/1.1 200 OK\r\n\r\n", (Close, false)),
        ("HTTP/1.1 204 No Content\r\n\r\n", (Length(0), true)),
        (
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            (Length(0), true),
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
            (Length(5), false),
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
            (Length(5), false),
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
            (Length(5), true),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(framing(text), want, "{text:?}");
    }
    let h = head_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
        .expect("parses")
        .expect("complete");
    assert_eq!(h.framing, Length(0), "a response to HEAD has no body");
    assert_eq!(
        h.headers["content-length"], "5",
        "and keeps its Content-Length"
    );
    let h = head_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false)
        .expect("parses")
        .expect("complete");
    assert_eq!(h.framing, Length(5));
    assert!(
        !h.headers.contains_key("content-length"),
        "a body's length is its size, written once where the response goes out"
    );
    let h = head_of("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false)
        .expect("parses")
        .expect("complete");
    assert_eq!(h.framing, Length(0));
    assert_eq!(
        h.headers["content-length"], "0",
        "an empty body keeps its length"
    );
}

#[test]
fn ambiguous_lengths_are_refused() {
    for text in [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        "HTTP/1.1 99 Odd\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
    ] {
        assert!(refused(text), "{text:?} was accepted");
    }
}

#[test]
fn interim_responses_are_skipped_and_the_rest_stays_buffered() {
    let mut buf = BytesMut::from(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
         HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi",
    );
    let h = parse_buf(&mut buf, &mut 0)
        .expect("parses")
        .expect("complete");
    assert_eq!(h.status, StatusCode::CREATED);
    assert!(
        h.headers.get("link").is_none(),
        "an interim head's fields are not kept"
    );
    assert_eq!(&buf[..], b"hi");
}

#[test]
fn interim_heads_are_counted_across_reads() {
    let interim = "HTTP/1.1 100 Continue\r\n\r\n";
    let last = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    // 32 interim heads are read, one read at a time, and the final head after them.
    let mut count = 0;
    let mut buf = BytesMut::new();
    for _ in 0..MAX_INTERIM {
        buf.extend_from_slice(interim.as_bytes());
        buf.extend_from_slice(b"HTTP/1.1 2");
        let parsed = parse_buf(&mut buf, &mut count);
        assert!(
            matches!(parsed, Ok(None)),
            "an interim head ended the exchange"
        );
        buf.truncate(buf.len() - b"HTTP/1.1 2".len());
    }
    buf.extend_from_slice(last.as_bytes());
    let h = parse_buf(&mut buf, &mut count);
    assert_eq!(h.expect("parses").expect("complete").status, StatusCode::OK);
    // One more is refused.
    let mut buf = BytesMut::from(format!("{}{last}", interim.repeat(MAX_INTERIM + 1)).as_str());
    let refused = parse_buf(&mut buf, &mut 0);
    assert!(
        matches!(refused, Err(Error::Malformed(_))),
        "33 interim heads were read"
    );
}

#[test]
fn an_incomplete_head_asks_for_more() {
    for text in [
        "HTTP/1.1 200 OK\r\nContent-Len",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2",
    ] {
        assert!(matches!(head(text), Ok(None)), "{text:?}");
    }
}

#[test]
fn a_reason_phrase_that_is_not_utf8_is_dropped() {
    // Found by the fuzzer: httparse gives such a phrase as a static "", outside the buffer.
    let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\xff\xffC\r\nContent-Length: 0\r\n\r\n"[..]);
    let h = parse_buf(&mut buf, &mut 0)
        .expect("parses")
        .expect("complete");
    assert_eq!(h.status, StatusCode::OK);
    assert!(h.reason.is_none());
}

#[test]
fn only_an_unusual_reason_phrase_is_kept() {
    let h = head("HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n")
        .expect("parses")
        .expect("complete");
    assert_eq!(h.reason.as_ref().map(|r| r.as_bytes()), Some(&b"Fine"[..]));
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .expect("parses")
        .expect("complete");
    assert!(h.reason.is_none());
}

/// Runs the chunked decoder over `wire` handed to it in pieces of `step` bytes, as a socket
/// might; returns the data and the trailers, or the first error.
fn dechunk(wire: &[u8], step: usize) -> Result<(Vec<u8>, Option<HeaderMap>), Error> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut state = Chunk::Size;
    let mut data = Vec::new();
    loop {
        match decode_chunk(state, &mut buf)? {
            Step::Next(next, frame) => {
                state = next;
                if let Some(d) = frame.and_then(|f| f.into_data().ok()) {
                    data.extend_from_slice(&d);
                }
            }
            Step::End(trailers) => return Ok((data, trailers)),
            Step::More if fed == wire.len() => return Err(Error::Closed),
            Step::More => {
                let n = step.min(wire.len() - fed);
                buf.extend_from_slice(&wire[fed..fed + n]);
                fed += n;
            }
        }
    }
}

#[test]
fn chunked_bodies_decode_with_extensions_and_trailers() {
    let wire = b"5;name=value\r\nhello\r\n1 ; x\r\n!\r\n0\r\nX-Sum: 6\r\nX-Other: a b\r\n\r\n";
    for step in [1, 2, 3, 7, wire.len()] {
        let (data, trailers) = dechunk(wire, step).expect("decodes");
        assert_eq!(data, b"hello!");
        let trailers = trailers.expect("trailers");
        assert_eq!(trailers["x-sum"], "6");
        assert_eq!(trailers["x-other"], "a b");
    }
    let (data, trailers) = dechunk(b"A\r\n0123456789\r\n0\r\n\r\n", 1).expect("decodes");
    assert_eq!(data, b"0123456789");
    assert!(trailers.is_none());
}

#[test]
fn malformed_chunks_are_refused() {
    let long_line = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(MAX_CHUNK_LINE));
    for wire in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5 x\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"1000000000000000\r\n",
        b"5;a\x01b\r\nhello\r\n0\r\n\r\n",
        b"0\r\nBad Name: x\r\n\r\n",
        long_line.as_bytes(),
    ] {
        for step in [1, wire.len()] {
            assert!(
                matches!(dechunk(wire, step), Err(Error::Malformed(_))),
                "{:?} in steps of {step} was accepted",
                String::from_utf8_lossy(wire)
            );
        }
    }
}

#[test]
fn a_chunked_body_cut_short_is_not_complete() {
    for wire in [
        &b"5\r\nhel"[..],
        b"5\r\nhello\r\n",
        b"5\r\nhello\r\n0\r\nX: 1\r\n",
    ] {
        assert!(matches!(dechunk(wire, 1), Err(Error::Closed)));
    }
}

proptest! {
    /// Any data, cut into any chunks, comes out whole however the bytes arrive.
    #[test]
    fn chunked_round_trip(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(1usize..300, 1..20),
        step in 1usize..64,
    ) {
        let mut wire = Vec::new();
        let mut rest = &data[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
            rest = tail;
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let (out, trailers) = dechunk(&wire, step).expect("decodes");
        prop_assert_eq!(out, data);
        prop_assert!(trailers.is_none());
    }

    /// Whatever head the upstream sends, the parser answers without panicking, and never
    /// keeps a connection whose response ends only when it closes.
    #[test]
    fn a_close_delimited_response_never_keeps_its_connection(
        text in "HTTP/1\\.[01] [0-9]{3} [A-Za-z ]{0,8}\r\n((Content-Length|Transfer-Encoding|Connection|X-[a-z]{1,4}): [ -~]{0,12}\r\n){0,6}\r\n",
    ) {
        if let Ok(Some(h)) = head(&text) {
            prop_assert!(!(h.keep_alive && h.framing == Framing::Close), "{:?}", text);
        }
    }
}

#[test]
fn framing_headers_are_spent_but_nominations_are_kept_for_cleaning() {
    let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Kept: 1\r\n\r\n")
        .expect("parses")
        .expect("complete");
    let names: Vec<&str> = h.headers.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["x-kept"]);
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close, X-Secret\r\nX-Secret: s\r\n\r\n")
        .expect("parses")
        .expect("complete");
    assert!(!h.keep_alive);
    assert_eq!(
        h.headers["connection"], "close, X-Secret",
        "left for the response cleaning"
    );
}

#[test]
fn the_trailer_section_ends_where_httparse_says() {
    // A bare LF ends lines, as httparse reads them; the decoder must not wait for a CRLF CRLF.
    let mut buf = BytesMut::from(&b"X: a\n\n"[..]);
    match decode_chunk(Chunk::Trailers, &mut buf) {
        Ok(Step::End(Some(t))) => assert_eq!(t["x"], "a"),
        other => panic!("{other:?}"),
    }
    assert!(buf.is_empty());
    // An empty section ends at its empty line; what follows stays, for the reuse check to see.
    let mut buf = BytesMut::from(&b"\nJUNK\r\n\r\n"[..]);
    assert!(matches!(
        decode_chunk(Chunk::Trailers, &mut buf),
        Ok(Step::End(None))
    ));
    assert_eq!(&buf[..], b"JUNK\r\n\r\n");
}

#[test]
fn a_head_over_the_limit_is_refused_even_when_it_arrives_whole() {
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
        "a".repeat(MAX_HEAD)
    );
    assert!(refused(&big));
}

proptest! {
    /// The word-at-a-time scan for a bare LF agrees with the obvious one.
    #[test]
    fn bare_lf_scan_agrees_with_a_byte_scan(b in proptest::collection::vec(
        prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), Just(0x8a_u8), Just(0x8d_u8), Just(0x0b_u8), Just(0_u8)], 0..64)) {
        let slow = b.iter().enumerate().any(|(i, &c)| c == b'\n' && (i == 0 || b[i - 1] != b'\r'));
        prop_assert_eq!(super::has_bare_lf(&b), slow);
    }
}

proptest! {
    /// A remembered header name is the one parsing the spelling gives, whatever came before at
    /// that position: never the last head's name for a field that changed.
    #[test]
    fn remembered_names_are_the_parsed_ones(heads in proptest::collection::vec(
        proptest::collection::vec(prop_oneof![
            Just("Host".to_string()),
            Just("host".to_string()),
            Just("Hos".to_string()),
            Just("X-Custom".to_string()),
            Just("x-custom".to_string()),
            Just("X-Custom-Header-Name-Over-Twenty-Four".to_string()),
            Just("Bad Name".to_string()),
            Just(String::new()),
            "[a-zA-Z-]{1,30}",
            // Names that differ in one byte, at a word's end or in the tail.
            "[ab]{1,25}",
        ], 0..20), 1..6)) {
        let mut names = super::Names::default();
        for head in heads {
            for (i, raw) in head.iter().enumerate() {
                let want = http::HeaderName::from_bytes(raw.as_bytes()).ok();
                prop_assert_eq!(names.get(i, raw.as_bytes()).ok(), want, "{}", raw);
            }
        }
    }
}
