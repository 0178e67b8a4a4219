//! HTTP/2 abuse, written frame by frame: malformed and connection-specific headers are
//! refused before any backend sees them, floods (rapid reset, CONTINUATION, HPACK bombs,
//! provoked resets) end the connection, and the gateway keeps serving everyone else.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(10);

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

const CANCEL: u32 = 0x8;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame on the wire: 24-bit length, type, flags, 31-bit stream id, payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix; `flags` fills the bits above the prefix.
fn hpack_int(out: &mut Vec<u8>, n: u32, flags: u8, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// "Literal header field without indexing, new name": no Huffman, no table, any bytes.
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    hpack_int(out, 7, 0, name.len());
    out.extend_from_slice(name);
    hpack_int(out, 7, 0, value.len());
    out.extend_from_slice(value);
}

/// A header block for a request: the four pseudo-headers, then `extra`.
fn request_block(method: &str, path: &str, extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    literal(&mut b, b":method", method.as_bytes());
    literal(&mut b, b":scheme", b"http");
    literal(&mut b, b":path", path.as_bytes());
    literal(&mut b, b":authority", b"api.example.com");
    for (n, v) in extra {
        literal(&mut b, n, v);
    }
    b
}

/// A complete GET on `stream`, in one HEADERS frame.
fn get_frame(stream: u32, path: &str, extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        stream,
        &request_block("GET", path, extra),
    )
}

#[derive(Debug)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// A raw HTTP/2 connection: our bytes out, the server's frames in.
struct RawH2 {
    rd: OwnedReadHalf,
    wr: Option<OwnedWriteHalf>,
    buf: Vec<u8>,
}

impl RawH2 {
    /// Sends the preface and empty SETTINGS, waits for the server's SETTINGS and acks them.
    async fn connect(addr: std::net::SocketAddr) -> RawH2 {
        let s = TcpStream::connect(addr).await.expect("connect");
        let (rd, mut wr) = s.into_split();
        wr.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        wr.write_all(&frame(SETTINGS, 0, 0, &[]))
            .await
            .expect("settings");
        let mut c = RawH2 {
            rd,
            wr: Some(wr),
            buf: Vec::new(),
        };
        loop {
            let f = c.next(WAIT).await.expect("server SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                break;
            }
        }
        c.send(&frame(SETTINGS, ACK, 0, &[])).await;
        c
    }

    /// Writes `bytes`; a server that already hung up is not an error here.
    async fn send(&mut self, bytes: &[u8]) {
        if let Some(wr) = self.wr.as_mut()
            && wr.write_all(bytes).await.is_err()
        {
            self.wr = None;
        }
    }

    /// Writes `bytes` from another task, so that a server answering while we write cannot
    /// dead-lock both sides on full buffers.
    fn send_in_background(&mut self, bytes: Vec<u8>) -> tokio::task::JoinHandle<()> {
        let wr = self.wr.take();
        tokio::spawn(async move {
            if let Some(mut wr) = wr {
                let _ = wr.write_all(&bytes).await;
                // Keep the write half open until the server closes: dropping it sends FIN.
                tokio::time::sleep(WAIT).await;
            }
        })
    }

    /// The next frame, or `None` on EOF, error or `within` without one.
    async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Some(f);
                }
            }
            let mut tmp = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.rd.read(&mut tmp)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&tmp[..n]),
                _ => return None,
            }
        }
    }

    /// Reads until something decides `stream`'s fate (or the connection's), bounded by `WAIT`.
    async fn outcome(&mut self, stream: u32) -> Outcome {
        loop {
            let Some(f) = self.next(WAIT).await else {
                return Outcome::Closed;
            };
            match f.kind {
                GOAWAY => return Outcome::GoAway(u32_at(&f.payload, 4)),
                RST_STREAM if f.stream == stream => return Outcome::Reset(u32_at(&f.payload, 0)),
                HEADERS if f.stream == stream => return Outcome::Status(status_of(&f.payload)),
                _ => {}
            }
        }
    }

    /// Reads until GOAWAY or EOF; true if either came within `WAIT`.
    async fn ends(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.next(left).await {
                Some(f) if f.kind == GOAWAY => return true,
                Some(_) => {}
                // EOF, a reset, or the deadline: only the first two end the connection.
                None => return tokio::time::Instant::now() < deadline,
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// What became of one stream.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// A response; the status when it could be read (0 if not).
    Status(u16),
    Reset(u32),
    GoAway(u32),
    Closed,
}

impl Outcome {
    /// Refused: reset, connection ended, or a 4xx answer. Never a success.
    fn refused(&self) -> bool {
        match self {
            Outcome::Status(s) => (400..500).contains(s),
            _ => true,
        }
    }
}

/// The `:status` of a response header block, which servers send first. Reads only what a
/// response's first field can be: a static-table index, or a literal with the `:status` name
/// whose value is plain or Huffman-coded digits. Anything else is 0.
fn status_of(block: &[u8]) -> u16 {
    let mut b = block;
    // Dynamic table size updates may come first.
    while let Some(&first) = b.first()
        && first & 0xe0 == 0x20
    {
        b = &b[1..];
    }
    let Some(&first) = b.first() else { return 0 };
    if first & 0x80 != 0 {
        let statics = [200, 204, 206, 304, 400, 404, 500];
        return statics
            .get(usize::from(first & 0x7f).wrapping_sub(8))
            .copied()
            .unwrap_or(0);
    }
    let name_index = if first & 0xc0 == 0x40 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    if name_index != 8 || b.len() < 2 {
        return 0;
    }
    let huffman = b[1] & 0x80 != 0;
    let len = usize::from(b[1] & 0x7f);
    let Some(value) = b.get(2..2 + len) else {
        return 0;
    };
    let digits = if huffman {
        huffman_digits(value)
    } else {
        String::from_utf8_lossy(value).into_owned()
    };
    digits.parse().unwrap_or(0)
}

/// Decodes HPACK Huffman text made only of digits: `0`-`2` are the 5-bit codes `00000`-`00010`,
/// `3`-`9` the 6-bit codes `011001`-`011111` (RFC 7541, Appendix B).
fn huffman_digits(bytes: &[u8]) -> String {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    let take = |i: usize, n: usize| {
        bits.get(i..i + n)
            .map(|s| s.iter().fold(0u8, |acc, b| acc << 1 | b))
    };
    while let Some(five) = take(i, 5) {
        if five <= 2 {
            out.push((b'0' + five) as char);
            i += 5;
        } else if let Some(six @ 0x19..=0x1f) = take(i, 6) {
            out.push((b'0' + six - 0x16) as char);
            i += 6;
        } else {
            // Padding (all ones) or a code that is not a digit.
            break;
        }
    }
    out
}

fn config(backend: std::net::SocketAddr) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: backend
    endpoints: [{{ url: "http://{backend}" }}]
routes:
  - name: api
    match: {{ path: "/api/{{*rest}}" }}
    service: backend
"#
    )
}

async fn setup() -> (Recorder, TestGateway) {
    let rec = Recorder::start().await;
    let gw = TestGateway::start(&config(rec.addr())).await;
    (rec, gw)
}

/// The gateway still answers a fresh HTTP/2 connection and a fresh HTTP/1.1 one.
async fn assert_still_serving(gw: &TestGateway) {
    let req = Request::get("http://api.example.com/api/health")
        .body(())
        .expect("request");
    let (status, _) = h2_request(gw.addr(), req, None).await;
    assert_eq!(status, 200, "HTTP/2 after the attack");
    let (parts, _) = get(&gw.url("/api/health")).await;
    assert_eq!(parts.status, StatusCode::OK, "HTTP/1.1 after the attack");
}

#[tokio::test]
async fn a_plain_request_from_a_real_http2_client_is_served() {
    let (rec, gw) = setup().await;
    let req = Request::post("http://api.example.com/api/upload?x=1")
        .body(())
        .expect("request");
    let (status, body) = h2_request(gw.addr(), req, Some(Bytes::from_static(b"hello"))).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"got 5 bytes");
    assert_eq!(
        rec.complete().await,
        [("/api/upload?x=1".to_string(), "hello".into())]
    );
}

#[tokio::test]
async fn the_raw_frame_writer_speaks_valid_http2() {
    // The control for every raw test below: the same writer, a well-formed request, a 200.
    let (rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    c.send(&get_frame(1, "/api/raw", &[(b"accept", b"*/*")]))
        .await;
    assert_eq!(c.outcome(1).await, Outcome::Status(200));
    assert_eq!(rec.uris(), ["/api/raw"]);
}

#[tokio::test]
async fn connection_specific_headers_are_refused() {
    let (rec, gw) = setup().await;
    let cases: [(&[u8], &[u8]); 7] = [
        (b"connection", b"keep-alive"),
        (b"transfer-encoding", b"chunked"),
        (b"te", b"gzip"),
        (b"te", b"trailers, deflate"),
        (b"upgrade", b"websocket"),
        (b"keep-alive", b"timeout=5"),
        (b"proxy-connection", b"keep-alive"),
    ];
    for (name, value) in cases {
        let mut c = RawH2::connect(gw.addr()).await;
        c.send(&get_frame(1, "/api/x", &[(name, value)])).await;
        let o = c.outcome(1).await;
        assert!(
            o.refused(),
            "{}: {} was not refused: {o:?}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn control_characters_in_headers_are_refused() {
    let (rec, gw) = setup().await;
    let cases: [(&[u8], &[u8]); 7] = [
        (b"x-a", b"one\r\nx-banyan-consumer: admin"),
        (b"x-a", b"one\ntwo"),
        (b"x-a", b"one\rtwo"),
        (b"x-a", b"nul\0byte"),
        (b"x-a", b"esc\x1b[31m"),
        (b"x-a", b"del\x7f"),
        (b"x-a\r\nx-b", b"v"),
    ];
    for (name, value) in cases {
        let mut c = RawH2::connect(gw.addr()).await;
        c.send(&get_frame(1, "/api/x", &[(name, value)])).await;
        let o = c.outcome(1).await;
        assert!(o.refused(), "{:?}: {o:?}", String::from_utf8_lossy(value));
    }
    // And in pseudo-headers.
    for path in ["/api/x\r\nx: y", "/api/x\0", "/api/x y"] {
        let mut c = RawH2::connect(gw.addr()).await;
        c.send(&get_frame(1, path, &[])).await;
        let o = c.outcome(1).await;
        assert!(o.refused(), "{path:?}: {o:?}");
    }
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn uppercase_header_names_are_refused() {
    let (rec, gw) = setup().await;
    for name in [&b"X-Banyan-Consumer"[..], b"Accept", b"HOST"] {
        let mut c = RawH2::connect(gw.addr()).await;
        c.send(&get_frame(1, "/api/x", &[(name, b"v")])).await;
        let o = c.outcome(1).await;
        assert!(o.refused(), "{:?}: {o:?}", String::from_utf8_lossy(name));
    }
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn authority_and_host_must_agree() {
    let (rec, gw) = setup().await;
    let req = Request::get("http://api.example.com/api/x")
        .header("host", "admin.internal")
        .body(())
        .expect("request");
    let (status, body) = h2_request(gw.addr(), req, None).await;
    assert_eq!(status, 400);
    let parts = http::Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
        .body(())
        .expect("parts")
        .into_parts()
        .0;
    let p = problem(&parts, &body);
    assert_eq!(p["type"], "urn:banyan:problem:bad-request");
    // The same over the raw writer, with the host in another case: that one agrees.
    let mut c = RawH2::connect(gw.addr()).await;
    c.send(&get_frame(
        1,
        "/api/agree",
        &[(b"host", b"API.example.com")],
    ))
    .await;
    assert_eq!(c.outcome(1).await, Outcome::Status(200));
    assert_eq!(rec.uris(), ["/api/agree"]);
}

#[tokio::test]
async fn a_content_length_that_disagrees_with_the_data_is_refused() {
    let (rec, gw) = setup().await;
    for (announced, sent) in [(10usize, 20usize), (20, 10), (0, 5)] {
        let mut c = RawH2::connect(gw.addr()).await;
        let cl = announced.to_string();
        let head = request_block("POST", "/api/cl", &[(b"content-length", cl.as_bytes())]);
        let mut bytes = frame(HEADERS, END_HEADERS, 1, &head);
        bytes.extend(frame(DATA, END_STREAM, 1, &vec![b'a'; sent]));
        c.send(&bytes).await;
        let o = c.outcome(1).await;
        assert!(
            o.refused(),
            "content-length {announced}, {sent} bytes: {o:?}"
        );
    }
    assert_eq!(
        rec.complete().await,
        [],
        "a request whose length lied reached the backend whole"
    );
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn rapid_reset_ends_the_connection_and_others_are_still_served() {
    let (_rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    let mut bytes = Vec::new();
    for i in 0..1000u32 {
        let id = 2 * i + 1;
        bytes.extend(get_frame(id, "/api/reset", &[]));
        bytes.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    let writer = c.send_in_background(bytes);
    assert!(
        c.ends().await,
        "1000 streams opened and reset, and the connection goes on"
    );
    writer.abort();
    assert_still_serving(&gw).await;
}

/// The next connection the gateway makes to a hand-written upstream, once a request head has
/// come on it.
async fn took_request(upstream: &tokio::net::TcpListener) -> TcpStream {
    let (mut up, _) = tokio::time::timeout(WAIT, upstream.accept())
        .await
        .expect("a request reached the upstream")
        .expect("accept");
    assert!(!read_request_head(&mut up, WAIT).await.is_empty());
    up
}

/// A hand-written upstream, and a gateway routing `/api/...` to it.
async fn raw_upstream_behind(
    edit: impl FnOnce(String) -> String,
) -> (tokio::net::TcpListener, TestGateway) {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gw = TestGateway::start(&edit(config(upstream.local_addr().expect("addr")))).await;
    (upstream, gw)
}

/// Answers the next request that reaches `upstream` with a 200.
async fn answer_next(upstream: &tokio::net::TcpListener) {
    took_request(upstream)
        .await
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .await
        .expect("answer");
}

/// Asserts that the gateway closed this upstream connection without writing to it.
async fn assert_closed(up: &mut TcpStream) {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(WAIT, up.read(&mut byte))
        .await
        .expect("the upstream connection was closed after the reset");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the upstream connection is closed, not written to: {read:?}"
    );
}

/// A stream the client resets takes its upstream exchange with it: the upstream sees its
/// connection closed at once, not when the route's timeout (60 s here) comes.
#[tokio::test]
async fn a_reset_stream_cancels_its_upstream_exchange() {
    let (upstream, gw) = raw_upstream_behind(|c| {
        c.replace(
            "    service: backend\n",
            "    service: backend\n    timeout: 60s\n",
        )
    })
    .await;
    let mut c = RawH2::connect(gw.addr()).await;
    c.send(&get_frame(1, "/api/slow", &[])).await;
    let mut up = took_request(&upstream).await;
    c.send(&frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes()))
        .await;
    assert_closed(&mut up).await;
    // The connection itself goes on.
    c.send(&get_frame(3, "/api/next", &[])).await;
    answer_next(&upstream).await;
    assert!(matches!(c.outcome(3).await, Outcome::Status(200)));
}

/// Resets paced one at a time, each after the gateway took its stream: h2's own cap on resets
/// of streams not yet taken never trips, so the gateway counts them itself and closes the
/// connection once a hundred streams were reset before their answer.
#[tokio::test]
async fn resets_of_taken_streams_end_the_connection() {
    let (upstream, gw) = raw_upstream_behind(|c| c).await;
    let mut c = RawH2::connect(gw.addr()).await;
    // Held open: an upstream that hung up would answer the stream (502) before its reset.
    let mut held = Vec::new();
    for i in 0..100u32 {
        let id = 2 * i + 1;
        c.send(&get_frame(id, "/api/slow", &[])).await;
        held.push(took_request(&upstream).await);
        c.send(&frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()))
            .await;
    }
    assert_eq!(
        c.outcome(u32::MAX).await,
        Outcome::GoAway(ENHANCE_YOUR_CALM),
        "100 streams taken and reset, and the connection goes on"
    );
    // The gateway still serves others (its upstream here is the test's listener).
    let mut other = RawH2::connect(gw.addr()).await;
    other.send(&get_frame(1, "/api/next", &[])).await;
    answer_next(&upstream).await;
    assert!(matches!(other.outcome(1).await, Outcome::Status(200)));
}

/// A client that gives up on answers slow to come is no rapid-reset attacker: it resets a
/// hundred streams, every one it opened, each over a second after the gateway took it, and its
/// connection goes on.
#[tokio::test]
async fn resets_of_streams_that_waited_a_second_keep_the_connection() {
    let (upstream, gw) = raw_upstream_behind(|c| c).await;
    let mut c = RawH2::connect(gw.addr()).await;
    let mut held = Vec::new();
    for i in 0..100u32 {
        c.send(&get_frame(2 * i + 1, "/api/slow", &[])).await;
        held.push(took_request(&upstream).await);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut resets = Vec::new();
    for i in 0..100u32 {
        resets.extend(frame(RST_STREAM, 0, 2 * i + 1, &CANCEL.to_be_bytes()));
    }
    c.send(&resets).await;
    // The resets were acted on: each upstream exchange is closed.
    for mut up in held {
        assert_closed(&mut up).await;
    }
    c.send(&get_frame(201, "/api/next", &[])).await;
    answer_next(&upstream).await;
    assert_eq!(c.outcome(201).await, Outcome::Status(200));
}

/// A stream reset in the same packet that opened it never reaches an upstream. The request
/// after it on the connection is answered, so the pair before it was read and dealt with.
#[tokio::test]
async fn a_stream_reset_before_it_was_taken_reaches_no_upstream() {
    let (rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    let mut pair = get_frame(1, "/api/reset", &[]);
    pair.extend(frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes()));
    pair.extend(get_frame(3, "/api/after", &[]));
    c.send(&pair).await;
    assert_eq!(c.outcome(3).await, Outcome::Status(200));
    assert_eq!(
        rec.backend.hits(),
        1,
        "only the request that was not reset went up"
    );
}

/// A HEAD over HTTP/2 ends with its head: a body sent on it would be a protocol error to the
/// client. Gateway-made answers (a 404 here) included.
#[tokio::test]
async fn a_head_request_over_http2_gets_no_body() {
    let (rec, gw) = setup().await;
    for (path, want) in [("/nowhere", 404), ("/api/x", 200)] {
        let req = Request::head(format!("http://api.example.com{path}"))
            .body(())
            .expect("request");
        let (status, body) = h2_request(gw.addr(), req, None).await;
        assert_eq!((status, body.len()), (want, 0), "{path}");
    }
    assert_eq!(rec.backend.hits(), 1);
}

#[tokio::test]
async fn provoked_resets_end_the_connection() {
    // "Made you reset": streams the server itself must reset (here, a forbidden header), a
    // thousand times over.
    let (rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    let mut bytes = Vec::new();
    for i in 0..1000u32 {
        bytes.extend(get_frame(2 * i + 1, "/api/x", &[(b"connection", b"close")]));
    }
    let writer = c.send_in_background(bytes);
    assert!(
        c.ends().await,
        "1000 server resets, and the connection goes on"
    );
    writer.abort();
    assert_eq!(rec.backend.hits(), 0);
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn a_continuation_flood_ends_the_connection() {
    let (rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end the block: 400 KiB
    // of header fields, far past the header list limit.
    let mut bytes = frame(HEADERS, END_STREAM, 1, &request_block("GET", "/api/x", &[]));
    let value = vec![b'v'; 1000];
    for i in 0..400 {
        let mut block = Vec::new();
        literal(&mut block, format!("x-flood-{i}").as_bytes(), &value);
        bytes.extend(frame(CONTINUATION, 0, 1, &block));
    }
    let writer = c.send_in_background(bytes);
    assert!(c.ends().await, "the flood was read to its end");
    writer.abort();
    assert_eq!(rec.backend.hits(), 0);
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn an_hpack_bomb_is_refused() {
    // One 3000-byte header put in the dynamic table, then referenced a thousand times: a few
    // KiB on the wire, 3 MB once decoded.
    let (rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    let mut block = request_block("GET", "/api/bomb", &[]);
    block.push(0x40); // literal with incremental indexing, new name
    hpack_int(&mut block, 7, 0, 6);
    block.extend_from_slice(b"x-bomb");
    hpack_int(&mut block, 7, 0, 3000);
    block.extend(std::iter::repeat_n(b'b', 3000));
    for _ in 0..1000 {
        block.push(0x80 | 62); // the first dynamic-table entry
    }
    c.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block))
        .await;
    let o = c.outcome(1).await;
    assert!(o.refused(), "{o:?}");
    assert_eq!(rec.backend.hits(), 0);
    assert_still_serving(&gw).await;
}

#[tokio::test]
async fn an_h2c_upgrade_is_not_tunnelled() {
    let (rec, gw) = setup().await;
    let req = "GET /api/upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
               Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n\
               GET /api/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let text = raw(gw.addr(), req.as_bytes(), WAIT).await;
    let r = responses(text.as_bytes());
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200],
        "answered as plain HTTP/1.1: {text}"
    );
    assert_eq!(rec.uris(), ["/api/upgrade", "/api/after"]);
    let seen = rec.backend.seen.lock().expect("lock")[0].clone();
    for h in ["upgrade", "http2-settings", "connection"] {
        assert!(!seen.headers.contains_key(h), "{h} reached the backend");
    }
}

#[tokio::test]
async fn a_header_list_over_the_limit_is_refused() {
    // 40 KiB of plain headers, over `server.max_header_bytes` (32 KiB by default).
    let (rec, gw) = setup().await;
    let mut c = RawH2::connect(gw.addr()).await;
    let value = vec![b'v'; 1000];
    let names: Vec<String> = (0..40).map(|i| format!("x-big-{i}")).collect();
    let extra: Vec<(&[u8], &[u8])> = names
        .iter()
        .map(|n| (n.as_bytes(), value.as_slice()))
        .collect();
    // Split over HEADERS and CONTINUATION frames within the peer's 16 KiB frame size.
    let block = request_block("GET", "/api/big", &extra);
    let mut bytes = Vec::new();
    let chunks: Vec<&[u8]> = block.chunks(16 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let (kind, flags) = if i == 0 {
            (HEADERS, END_STREAM)
        } else {
            (CONTINUATION, 0)
        };
        bytes.extend(frame(
            kind,
            flags | if last { END_HEADERS } else { 0 },
            1,
            chunk,
        ));
    }
    c.send(&bytes).await;
    let o = c.outcome(1).await;
    assert!(
        matches!(
            o,
            Outcome::Status(431) | Outcome::Reset(_) | Outcome::GoAway(_)
        ),
        "{o:?}"
    );
    assert_eq!(rec.backend.hits(), 0);
}
