//! HTTP/1.1 request smuggling: framing that two parsers could read differently is refused
//! with 400, and the backend sees exactly the requests a correct parser sees, never one
//! hidden in a body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(5);

/// A request a smuggler hides in a body; no test may ever see it reach the backend.
const HIDDEN: &str = "GET /api/hidden HTTP/1.1\r\nHost: x\r\n\r\n";

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
  - name: upload
    match: {{ path: "/upload/{{*rest}}" }}
    service: backend
    max_body_bytes: 16
"#
    )
}

async fn setup() -> (Recorder, TestGateway) {
    let rec = Recorder::start().await;
    let gw = TestGateway::start(&config(rec.addr())).await;
    (rec, gw)
}

fn assert_nothing_hidden(rec: &Recorder) {
    let uris = rec.uris();
    assert!(
        !uris
            .iter()
            .any(|u| u.contains("hidden") || u.contains("admin")),
        "a request hidden in a body reached the backend: {uris:?}"
    );
}

/// Sends `bytes` on a fresh connection and returns the responses.
async fn exchange(gw: &TestGateway, bytes: &str) -> Vec<RawResponse> {
    let text = raw(gw.addr(), bytes.as_bytes(), WAIT).await;
    responses(text.as_bytes())
}

/// A chunked body whose single chunk is `HIDDEN`.
fn chunked_hidden() -> String {
    format!("{:x}\r\n{HIDDEN}\r\n0\r\n\r\n", HIDDEN.len())
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_in_either_order() {
    let (rec, gw) = setup().await;
    // CL.TE: a parser that believes Content-Length sees `HIDDEN` as the next request.
    let body = chunked_hidden();
    let cl_te = format!(
        "POST /api/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
    );
    // TE.CL: a parser that believes Transfer-Encoding sees `HIDDEN` after the empty chunk.
    let tail = format!("0\r\n\r\n{HIDDEN}");
    let te_cl = format!(
        "POST /api/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n{tail}",
        tail.len()
    );
    for req in [cl_te, te_cl] {
        let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let got = read_response(&mut s, WAIT).await;
        let r = responses(&got);
        // Refused in either order, and the connection is not trusted for another request.
        assert_eq!(
            r.iter().map(|r| r.status).collect::<Vec<_>>(),
            [400],
            "{r:?}"
        );
        r[0].problem();
        assert!(closed_within(&mut s, WAIT).await, "connection kept open");
    }
    assert_nothing_hidden(&rec);
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn conflicting_or_malformed_content_lengths_are_refused() {
    let (rec, gw) = setup().await;
    for cl in [
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: +5",
        "Content-Length: -5",
        "Content-Length: 5, 5",
        "Content-Length: 5,6",
        "Content-Length: 0x5",
        "Content-Length: 5 5",
        "Content-Length: 99999999999999999999999",
    ] {
        let req = format!("POST /api/a HTTP/1.1\r\nHost: x\r\n{cl}\r\n\r\nhello{HIDDEN}");
        let r = exchange(&gw, &req).await;
        assert_eq!(
            r.iter().map(|r| r.status).collect::<Vec<_>>(),
            [400],
            "{cl:?}"
        );
    }
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn obfuscated_transfer_encodings_are_refused() {
    let (rec, gw) = setup().await;
    let body = chunked_hidden();
    for te in [
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
        "Transfer-Encoding : chunked",
        "Transfer-Encoding\t: chunked",
        " Transfer-Encoding: chunked",
        "Transfer-Encoding: \x0bchunked",
        "Transfer-Encoding: \x0cchunked",
        "Transfer-Encoding:\r\n chunked",
        "Transfer-Encoding: identity\r\n\tchunked",
        "X-Padding: a\r\n Transfer-Encoding: chunked",
        "Transfer_Encoding: chunked",
    ] {
        let req = format!(
            "POST /api/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{te}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let r = exchange(&gw, &req).await;
        let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
        // `Transfer_Encoding` is just another header: the Content-Length frames the body and
        // the request is served, with the whole chunked text as its body.
        if te.starts_with("Transfer_") {
            assert_eq!(statuses, [200], "{te:?}");
        } else {
            assert_eq!(statuses, [400], "{te:?}");
        }
    }
    assert_nothing_hidden(&rec);
    for (_, body) in rec.complete().await {
        assert_eq!(body, chunked_hidden().as_bytes());
    }
}

#[tokio::test]
async fn whitespace_around_chunked_is_read_as_chunked() {
    // Optional whitespace (SP, HTAB) is part of the grammar: these are plainly chunked, and the
    // body must be read as chunks, never as a Content-Length or as a new request.
    let (rec, gw) = setup().await;
    for te in [
        "Transfer-Encoding:  chunked",
        "Transfer-Encoding:\tchunked",
        "Transfer-Encoding: chunked \t",
        "Transfer-Encoding: CHUNKED",
    ] {
        let req = format!(
            "POST /api/ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{te}\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n"
        );
        let r = exchange(&gw, &req).await;
        assert_eq!(
            r.iter().map(|r| r.status).collect::<Vec<_>>(),
            [200],
            "{te:?}: {r:?}"
        );
    }
    let complete = rec.complete().await;
    let ws: Vec<_> = complete.iter().filter(|(u, _)| u == "/api/ws").collect();
    assert_eq!(ws.len(), 4, "{complete:?}");
    assert!(ws.iter().all(|(_, b)| b == "hello"), "{ws:?}");
}

#[tokio::test]
async fn malformed_chunk_framing_is_refused_and_never_completes_upstream() {
    let (rec, gw) = setup().await;
    for body in [
        // A bare LF inside a chunk extension.
        format!("5;ext=1\nx\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        // A bare LF ending the chunk-size line.
        format!("5\nhello\r\n0\r\n\r\n{HIDDEN}"),
        // A chunk size that does not fit in 64 bits.
        format!("ffffffffffffffffff\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        // A chunk longer than its size.
        format!("2\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        // No hex digits at all.
        format!("zz\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
    ] {
        let req = format!(
            "POST /api/chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        );
        let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let got = responses(&read_response(&mut s, WAIT).await);
        let first = got.first().map(|r| r.status);
        assert_eq!(first, Some(400), "{body:?}: {got:?}");
        got[0].problem();
        assert!(closed_within(&mut s, WAIT).await, "{body:?}: kept open");
    }
    assert_nothing_hidden(&rec);
    assert_eq!(
        rec.complete().await,
        [],
        "a malformed body reached the backend whole"
    );
}

#[tokio::test]
async fn a_get_body_is_read_by_its_length_and_the_next_request_follows_it() {
    let (rec, gw) = setup().await;
    let req = format!(
        "GET /api/first HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{HIDDEN}\
         GET /api/second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        HIDDEN.len()
    );
    let r = exchange(&gw, &req).await;
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200]);
    assert_eq!(rec.uris(), ["/api/first", "/api/second"]);
    let complete = rec.complete().await;
    assert_eq!(complete[0].1, HIDDEN.as_bytes(), "the GET body went along");
}

#[tokio::test]
async fn an_early_404_does_not_let_the_unread_body_become_a_request() {
    let (rec, gw) = setup().await;
    let hidden = "GET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let after = "GET /api/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let req = format!(
        "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{hidden}{after}",
        hidden.len()
    );
    let r = exchange(&gw, &req).await;
    // The body arrived with its head: it is read by its length, dropped with the 404, and the
    // request after it is served.
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [404, 200],
        "{r:?}"
    );
    assert_eq!(rec.uris(), ["/api/after"]);
    r[0].problem();
    assert_nothing_hidden(&rec);
}

#[tokio::test]
async fn an_early_413_does_not_let_the_unread_body_become_a_request() {
    let (rec, gw) = setup().await;
    let hidden = "GET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let req = format!(
        "POST /upload/x HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{hidden}",
        hidden.len()
    );
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let r = responses(&read_response(&mut s, WAIT).await);
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [413]);
    assert_eq!(r[0].header("connection"), Some("close"));
    r[0].problem();
    assert!(closed_within(&mut s, WAIT).await);
    assert_eq!(rec.backend.hits(), 0);
}

#[tokio::test]
async fn expect_continue_to_a_404_never_reads_the_body_as_a_request() {
    let (rec, gw) = setup().await;
    let hidden = "GET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let head = format!(
        "POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    );
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let first = read_response(&mut s, WAIT).await;
    let r = responses(&first);
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [404],
        "no 100 Continue for a request that is refused"
    );
    r[0].problem();
    // The client sends the body anyway: it must never be parsed as a request.
    let _ = s.write_all(hidden.as_bytes()).await;
    let rest = read_until_quiet(&mut s, Duration::from_secs(1)).await;
    assert_eq!(statuses(&rest), Vec::<u16>::new(), "{rest}");
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn expect_continue_to_a_route_gets_100_then_the_answer() {
    let (rec, gw) = setup().await;
    let head =
        "POST /api/upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    while !String::from_utf8_lossy(&got).contains("100 Continue") {
        use tokio::io::AsyncReadExt;
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => panic!(
                "no 100 Continue: {:?}",
                String::from_utf8_lossy(&got).into_owned()
            ),
        }
    }
    s.write_all(b"hello").await.expect("write body");
    got.extend(read_response(&mut s, WAIT).await);
    let r = responses(&got);
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [100, 200]);
    assert_eq!(
        rec.complete().await,
        [("/api/upload".to_string(), "hello".into())]
    );
}

/// An upstream that answers the first request with a response and then the bytes of a second
/// one nobody asked for; later requests must never get those bytes as their answer.
#[tokio::test]
async fn extra_bytes_from_an_upstream_are_never_an_answer_to_the_next_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let upstream = tokio::spawn(async move {
        // Bounded: this test makes at most a handful of connections.
        for _ in 0..8 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = read_request_head(&mut s, WAIT).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\
                          HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned",
                    )
                    .await;
                // Keep the connection open, as a confused upstream would.
                let _ = read_request_head(&mut s, WAIT).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(WAIT).await;
            });
        }
    });
    let gw = TestGateway::start(&config(addr)).await;
    let client = h1_client();
    for i in 0..4 {
        let req = http::Request::get(gw.url(&format!("/api/{i}")))
            .body(empty())
            .expect("request");
        let resp = client.request(req).await.expect("request");
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&body[..], b"ok", "request {i} got another request's answer");
    }
    upstream.abort();
}

/// An upstream that answers every request with `response` and keeps the connection open;
/// counts the connections it accepts.
async fn fixed_upstream(
    response: &'static [u8],
) -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    let task = tokio::spawn(async move {
        // Bounded: a handful of connections per test.
        for _ in 0..8 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                for _ in 0..4 {
                    if read_request_head(&mut s, WAIT).await.is_empty() {
                        return;
                    }
                    let _ = s.write_all(response).await;
                }
            });
        }
    });
    (addr, conns, task)
}

/// An upstream response with both Content-Length and Transfer-Encoding can be read two ways;
/// the client must never get a re-framed or cut version of it, and the upstream connection is
/// not trusted with another request.
#[tokio::test]
async fn an_upstream_response_with_two_framings_is_never_passed_on_reframed() {
    let (addr, conns, task) = fixed_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n\
          6\r\nhello!\r\n0\r\n\r\n",
    )
    .await;
    let gw = TestGateway::start(&config(addr)).await;
    for i in 0..2 {
        let text = raw(
            gw.addr(),
            format!("GET /api/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            WAIT,
        )
        .await;
        let r = responses(text.as_bytes());
        assert_eq!(r.len(), 1, "{text:?}");
        match r[0].status {
            502 => {
                r[0].problem();
            }
            200 => {
                assert!(r[0].complete, "{text:?}");
                assert_eq!(r[0].body, b"hello!", "re-framed: {text:?}");
                assert_eq!(r[0].header("content-length"), None, "{text:?}");
            }
            s => panic!("unexpected {s}: {text:?}"),
        }
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        2,
        "an upstream connection that sent ambiguous framing was used again"
    );
    task.abort();
}

/// Two different Content-Lengths from an upstream: a 502, never one of the two readings.
#[tokio::test]
async fn an_upstream_response_with_conflicting_lengths_is_a_502() {
    let (addr, _conns, task) =
        fixed_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 6\r\n\r\nhello!")
            .await;
    let gw = TestGateway::start(&config(addr)).await;
    let text = raw(
        gw.addr(),
        b"GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let r = responses(text.as_bytes());
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [502],
        "{text:?}"
    );
    r[0].problem();
    task.abort();
}

#[tokio::test]
async fn a_bare_lf_in_a_request_head_is_refused() {
    // A proxy in front that does not end lines at a bare LF sees one `X-Note` field here; a
    // parser that does would see a chunked body the proxy never framed.
    let (rec, gw) = setup().await;
    for req in [
        "GET /api/a HTTP/1.1\r\nHost: x\r\nX-Note: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /api/a HTTP/1.1\nHost: x\r\n\r\n",
        "GET /api/a HTTP/1.1\r\nHost: x\n\n",
    ] {
        let r = exchange(&gw, req).await;
        assert_eq!(
            r.iter().map(|r| r.status).collect::<Vec<_>>(),
            [400],
            "{req:?}"
        );
        r[0].problem();
    }
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn a_bare_lf_in_request_trailers_never_completes_upstream() {
    let (rec, gw) = setup().await;
    let req = "POST /api/t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
               5\r\nhello\r\n0\r\nX-Sum: 1\nX-Other: 2\r\n\r\n";
    let r = exchange(&gw, req).await;
    assert_eq!(r.first().map(|r| r.status), Some(400), "{r:?}");
    assert_eq!(
        rec.complete().await,
        [],
        "the body reached the backend whole"
    );
}

#[tokio::test]
async fn chunk_extensions_are_bounded_for_the_whole_body() {
    // Extensions are not body bytes, so the body limit does not count them: 16 KiB in all.
    let (rec, gw) = setup().await;
    let ext = format!(";pad={}", "p".repeat(4000));
    let chunks: String = (0..8).map(|_| format!("1{ext}\r\na\r\n")).collect();
    let req = format!(
        "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}0\r\n\r\n"
    );
    let r = exchange(&gw, &req).await;
    assert_eq!(r.first().map(|r| r.status), Some(400), "{r:?}");
    assert_eq!(
        rec.complete().await,
        [],
        "the body reached the backend whole"
    );
    // A few short extensions pass.
    let req = "POST /api/y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
               2;a=b\r\nhi\r\n1;c\r\n!\r\n0\r\n\r\n";
    let r = exchange(&gw, req).await;
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    assert_eq!(rec.complete().await, [("/api/y".to_string(), "hi!".into())]);
}

#[tokio::test]
async fn a_204_from_an_upstream_goes_out_without_a_length() {
    // RFC 9110 8.6: a 204 has no Content-Length; a client that believed the upstream's would
    // take the next response for this one's body.
    let (addr, _conns, task) =
        fixed_upstream(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\nX-A: 1\r\n\r\n").await;
    let gw = TestGateway::start(&config(addr)).await;
    let text = raw(
        gw.addr(),
        b"GET /api/a HTTP/1.1\r\nHost: x\r\n\r\nGET /api/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let r = responses(text.as_bytes());
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [204, 204]);
    assert!(
        r.iter().all(|r| r.header("content-length").is_none()),
        "{text}"
    );
    assert_eq!(r[0].header("x-a"), Some("1"));
    task.abort();
}

#[tokio::test]
async fn a_short_unread_body_is_skipped_and_the_connection_serves_on() {
    // Answered before its body arrived (no route): the body is read and dropped when it comes,
    // never parsed as a request, and the connection takes the next one, as nginx does.
    let (rec, gw) = setup().await;
    let hidden = "GET /api/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    let head = format!(
        "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        hidden.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let first = responses(&read_response(&mut s, WAIT).await);
    assert_eq!(first.iter().map(|r| r.status).collect::<Vec<_>>(), [404]);
    assert_eq!(first[0].header("connection"), None, "{first:?}");
    let after = "GET /api/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s.write_all(format!("{hidden}{after}").as_bytes())
        .await
        .expect("write");
    let rest = responses(&read_response(&mut s, WAIT).await);
    assert_eq!(rest.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    assert_eq!(rec.uris(), ["/api/after"]);
}

#[tokio::test]
async fn a_long_unread_body_closes_the_connection() {
    let (rec, gw) = setup().await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .expect("write");
    let first = responses(&read_response(&mut s, WAIT).await);
    assert_eq!(first.iter().map(|r| r.status).collect::<Vec<_>>(), [404]);
    assert_eq!(first[0].header("connection"), Some("close"));
    assert!(closed_within(&mut s, WAIT).await, "kept open");
    assert_eq!(rec.backend.hits(), 0);
}

#[tokio::test]
async fn a_cut_body_to_an_http10_client_ends_with_a_reset_not_a_close() {
    // An HTTP/1.0 client reads a body of unknown length until the connection ends; a plain
    // close after a failed upstream body would look like the whole response.
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let upstream = tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let _ = read_request_head(&mut s, WAIT).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .await;
        // Gone before the last chunk.
    });
    let gw = TestGateway::start(&config(addr)).await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /api/cut HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) => break "a close",
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break "a reset",
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break "nothing",
        }
    };
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(end, "a reset", "after {text:?}");
    upstream.abort();
}

#[tokio::test]
async fn a_long_upload_may_sign_each_chunk() {
    // S3's streaming uploads carry an 81-byte `chunk-signature` extension on every chunk of at
    // least 8 KiB: far more than 16 KiB of extensions over a long upload, and let through.
    let (rec, gw) = setup().await;
    let data = "d".repeat(8192);
    let chunks: String = (0..100)
        .map(|i| format!("2000;chunk-signature={:064x}\r\n{data}\r\n", i))
        .collect();
    let req = format!(
        "POST /api/s3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {chunks}0;chunk-signature={:064x}\r\n\r\n",
        0
    );
    let r = exchange(&gw, &req).await;
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    let complete = rec.complete().await;
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].1.len(), 100 * 8192);
}

#[tokio::test]
async fn an_upstream_length_given_twice_goes_out_once() {
    // Equal lengths, repeated or listed, frame the upstream's response one way; passed on as
    // they came, a client or cache behind could read them another.
    for response in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
    ] {
        let (addr, _conns, task) = fixed_upstream(response).await;
        let gw = TestGateway::start(&config(addr)).await;
        let text = raw(
            gw.addr(),
            b"GET /api/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            WAIT,
        )
        .await;
        let r = responses(text.as_bytes());
        assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
        let lengths: Vec<_> = r[0]
            .headers
            .iter()
            .filter(|(k, _)| k == "content-length")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(lengths, ["5"], "{text}");
        assert_eq!(r[0].body, b"hello");
        task.abort();
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (rec, gw) = setup().await;
    let text = raw(
        gw.addr(),
        b"GET /api/1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /api/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo\
          POST /api/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\nthree!",
        WAIT,
    )
    .await;
    let r = responses(text.as_bytes());
    let bodies: Vec<_> = r.iter().map(|r| String::from_utf8_lossy(&r.body)).collect();
    assert_eq!(
        bodies,
        ["got 0 bytes", "got 3 bytes", "got 6 bytes"],
        "{text}"
    );
    assert_eq!(rec.uris(), ["/api/1", "/api/2", "/api/3"]);
}

#[tokio::test]
async fn http10_clients_keep_the_connection_only_when_they_ask() {
    let (rec, gw) = setup().await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /api/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .expect("write");
    let first = responses(&read_response(&mut s, WAIT).await);
    assert_eq!(first.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    assert_eq!(first[0].header("connection"), Some("keep-alive"));
    assert!(first[0].header("content-length").is_some(), "{first:?}");
    // Without asking, the connection ends with the response.
    s.write_all(b"GET /api/b HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let second = responses(&read_response(&mut s, WAIT).await);
    assert_eq!(second.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);
    assert_eq!(second[0].header("connection"), None);
    assert!(closed_within(&mut s, WAIT).await, "kept open");
    assert_eq!(rec.uris(), ["/api/a", "/api/b"]);
}
