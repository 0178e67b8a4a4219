//! Every client-controlled size and time has a bound: heads, header counts, targets and bodies
//! over their limits get 431, 414 or 413 problems before any upstream sees them, per-route body
//! limits raise or lower the global one, and slow or idle clients are disconnected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;
use crate::wire::*;

/// Bounds for waits that end early when things work; never a measure of speed.
const WAIT: Duration = Duration::from_secs(10);

const LIMITS: &str = "server:
  max_header_bytes: 4KiB
  max_headers: 20
  max_uri_bytes: 1KiB
  max_body_bytes: 64KiB
";

fn config(backend: std::net::SocketAddr, server: &str) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
{server}services:
  - name: backend
    endpoints: [{{ url: "http://{backend}" }}]
routes:
  - name: api
    match: {{ path: "/api/{{*rest}}" }}
    service: backend
  - name: small
    match: {{ path: "/small/{{*rest}}" }}
    service: backend
    max_body_bytes: 1KiB
  - name: big
    match: {{ path: "/big/{{*rest}}" }}
    service: backend
    max_body_bytes: 1MiB
"#
    )
}

async fn setup(server: &str) -> (Recorder, TestGateway) {
    let rec = Recorder::start().await;
    let gw = TestGateway::start(&config(rec.addr(), server)).await;
    (rec, gw)
}

/// Writes `bytes` from another task (ignoring a server that hangs up mid-write) while reading
/// what comes back, until the server closes or is quiet for `quiet`.
async fn send_big(gw: &TestGateway, bytes: Vec<u8>, quiet: Duration) -> String {
    let s = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&bytes).await;
        wr
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(quiet, rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

/// The single response to `bytes`, which must be a problem with `status` on a closed connection.
async fn expect_problem(gw: &TestGateway, bytes: Vec<u8>, status: u16) -> serde_json::Value {
    let text = send_big(gw, bytes, WAIT).await;
    let r = responses(text.as_bytes());
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [status],
        "{text}"
    );
    assert_eq!(r[0].header("connection"), Some("close"));
    r[0].problem()
}

fn head_with(extra: &str) -> Vec<u8> {
    format!("GET /api/x HTTP/1.1\r\nHost: a\r\n{extra}\r\n").into_bytes()
}

#[tokio::test]
async fn a_head_over_max_header_bytes_gets_a_431_problem() {
    let (rec, gw) = setup(LIMITS).await;
    let v = "v".repeat(1000);
    let five_lines: String = (0..5).map(|i| format!("X-Pad-{i}: {v}\r\n")).collect();
    let p = expect_problem(&gw, head_with(&five_lines), 431).await;
    assert_eq!(p["type"], "urn:banyan:problem:headers-too-large");
    let one_line = format!("X-Pad: {}\r\n", "v".repeat(5000));
    expect_problem(&gw, head_with(&one_line), 431).await;
    // Just under the limit is served.
    let text = raw(
        gw.addr(),
        &head_with(&format!(
            "Connection: close\r\nX-Pad: {}\r\n",
            "v".repeat(3000)
        )),
        WAIT,
    )
    .await;
    assert_eq!(statuses(&text), [200], "{text}");
    assert_eq!(rec.backend.hits(), 1);
}

#[tokio::test]
async fn a_head_far_over_the_limit_is_cut_off_by_the_parser() {
    // 256 KiB of headers are never buffered whole: the parser stops reading a little past the
    // limit and answers with a 431 problem, which the client gets to read before the close.
    let (rec, gw) = setup(LIMITS).await;
    let lines: String = (0..256)
        .map(|i| format!("X-Pad-{i}: {}\r\n", "v".repeat(1000)))
        .collect();
    let p = expect_problem(&gw, head_with(&lines), 431).await;
    assert_eq!(p["type"], "urn:banyan:problem:headers-too-large");
    assert_eq!(rec.backend.hits(), 0);
}

#[tokio::test]
async fn more_headers_than_max_headers_get_a_431_problem() {
    let (rec, gw) = setup(LIMITS).await;
    let many: String = (0..30).map(|i| format!("X-H-{i}: 1\r\n")).collect();
    let p = expect_problem(&gw, head_with(&many), 431).await;
    assert_eq!(p["type"], "urn:banyan:problem:headers-too-large");
    // Past the parser's own cap: still a 431 and a closed connection.
    let lots: String = (0..500).map(|i| format!("X-H-{i}: 1\r\n")).collect();
    let text = send_big(&gw, head_with(&lots), WAIT).await;
    assert_eq!(statuses(&text), [431], "{text}");
    // Over HTTP/2, the same limit and the same problem.
    let mut req = Request::get("http://a/api/h2");
    for i in 0..30 {
        req = req.header(format!("x-h-{i}"), "1");
    }
    let (status, body) = h2_request(gw.addr(), req.body(()).expect("request"), None).await;
    assert_eq!(status, 431);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("problem");
    assert_eq!(v["type"], "urn:banyan:problem:headers-too-large");
    assert_eq!(rec.backend.hits(), 0);
}

#[tokio::test]
async fn a_target_over_max_uri_bytes_gets_a_414_problem() {
    let (rec, gw) = setup(LIMITS).await;
    let long_path = format!("/api/{}", "a".repeat(2000));
    let req = format!("GET {long_path} HTTP/1.1\r\nHost: a\r\n\r\n");
    let p = expect_problem(&gw, req.into_bytes(), 414).await;
    assert_eq!(p["type"], "urn:banyan:problem:uri-too-long");
    // The query counts too.
    let req = format!(
        "GET /api/q?x={} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(2000)
    );
    expect_problem(&gw, req.into_bytes(), 414).await;
    let req = Request::get(format!("http://a{long_path}"))
        .body(())
        .expect("request");
    let (status, _) = h2_request(gw.addr(), req, None).await;
    assert_eq!(status, 414);
    assert_eq!(rec.backend.hits(), 0);
}

#[tokio::test]
async fn an_announced_body_over_the_limit_gets_a_413_before_any_upstream() {
    let (rec, gw) = setup(LIMITS).await;
    for cl in [
        "65537",
        "10737418240",
        "18446744073709551613",
        "18446744073709551615",
    ] {
        let req = format!("POST /api/up HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\n");
        let p = expect_problem(&gw, req.into_bytes(), 413).await;
        assert_eq!(p["type"], "urn:banyan:problem:payload-too-large", "{cl}");
    }
    // One past the largest 64-bit number is not a length at all.
    let req = "POST /api/up HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n";
    let p = expect_problem(&gw, req.as_bytes().to_vec(), 400).await;
    assert_eq!(p["type"], "urn:banyan:problem:bad-request");
    // Over HTTP/2, announced with content-length.
    let req = Request::post("http://a/api/up")
        .header("content-length", "1000000")
        .body(())
        .expect("request");
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let (resp, _send) = client.send_request(req, false).expect("send");
    let resp = tokio::time::timeout(WAIT, resp)
        .await
        .expect("in time")
        .expect("response");
    assert_eq!(resp.status(), 413);
    conn.abort();
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_a_413_and_never_arrives_whole() {
    let (rec, gw) = setup(LIMITS).await;
    // 64 KiB + 1 in 8 KiB chunks: the limit is crossed by the last byte.
    let mut req =
        b"POST /api/up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..8 {
        req.extend_from_slice(format!("2000\r\n{}\r\n", "c".repeat(8192)).as_bytes());
    }
    req.extend_from_slice(b"1\r\nc\r\n0\r\n\r\n");
    let p = expect_problem(&gw, req, 413).await;
    assert_eq!(p["type"], "urn:banyan:problem:payload-too-large");
    // The body streams, so the backend may have seen the head and some of the body, but it
    // never got a complete request.
    assert_eq!(rec.complete().await, []);
    assert!(rec.uris().len() <= 1, "{:?}", rec.uris());

    // Over HTTP/2, without content-length.
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let req = Request::post("http://a/api/up2").body(()).expect("request");
    let (resp, mut send) = client.send_request(req, false).expect("send");
    send.reserve_capacity(70 * 1024);
    let sender = tokio::spawn(async move {
        for _ in 0..9 {
            if send
                .send_data(Bytes::from(vec![b'c'; 8192]), false)
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = send.send_data(Bytes::new(), true);
    });
    let resp = tokio::time::timeout(WAIT, resp)
        .await
        .expect("in time")
        .expect("response");
    assert_eq!(resp.status(), 413);
    sender.abort();
    conn.abort();
    assert_eq!(rec.complete().await, []);
}

#[tokio::test]
async fn a_route_can_raise_or_lower_the_body_limit() {
    let (rec, gw) = setup(LIMITS).await;
    let post = |path: &str, len: usize| {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n"
        )
        .into_bytes();
        req.extend(std::iter::repeat_n(b'b', len));
        req
    };
    // Lowered to 1 KiB: announced and chunked.
    expect_problem(&gw, post("/small/x", 2048), 413).await;
    let mut chunked =
        b"POST /small/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("800\r\n{}\r\n0\r\n\r\n", "b".repeat(2048)).as_bytes());
    expect_problem(&gw, chunked, 413).await;
    // Raised to 1 MiB: 100 KiB passes there and nowhere else.
    let text = send_big(&gw, post("/big/x", 100 * 1024), WAIT).await;
    assert_eq!(statuses(&text), [200], "{text}");
    expect_problem(&gw, post("/api/x", 100 * 1024), 413).await;
    // At the limits exactly: served.
    let text = send_big(&gw, post("/small/exact", 1024), WAIT).await;
    assert_eq!(statuses(&text), [200], "{text}");
    let text = send_big(&gw, post("/api/exact", 64 * 1024), WAIT).await;
    assert_eq!(statuses(&text), [200], "{text}");

    let complete = rec.complete().await;
    let sizes: Vec<(&str, usize)> = complete
        .iter()
        .map(|(u, b)| (u.as_str(), b.len()))
        .collect();
    assert_eq!(
        sizes,
        [
            ("/big/x", 100 * 1024),
            ("/small/exact", 1024),
            ("/api/exact", 64 * 1024)
        ]
    );
}

#[tokio::test]
async fn a_slowloris_head_is_cut_off() {
    let (rec, gw) = setup("server: { header_read_timeout: 1s, idle_timeout: 60s }\n").await;
    let s = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(b"GET /api/slow HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .await
        .expect("write");
    // One byte every 100 ms, at most 100 of them: each byte is activity, so only a deadline
    // for the whole head can end this.
    let mut closed = false;
    let mut buf = [0u8; 1024];
    for _ in 0..100 {
        if wr.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            // A 408 may come first; the close follows.
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(
        closed,
        "a head trickled for 10 s and the connection stayed open"
    );
    assert_eq!(rec.backend.hits(), 0);
    let (parts, _) = get(&gw.url("/api/after")).await;
    assert_eq!(parts.status, 200, "others are still served");
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let (rec, gw) = setup("server: { idle_timeout: 1s, header_read_timeout: 30s }\n").await;
    // Connections that never send a byte.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(gw.addr()).await.expect("connect"));
    }
    // A keep-alive connection that sent one request and then nothing.
    let mut kept = TcpStream::connect(gw.addr()).await.expect("connect");
    kept.write_all(b"GET /api/once HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let first = read_response(&mut kept, WAIT).await;
    assert_eq!(responses(&first).first().map(|r| r.status), Some(200));
    // An HTTP/2 connection with no streams.
    let mut h2 = TcpStream::connect(gw.addr()).await.expect("connect");
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("write");

    for (i, s) in silent.iter_mut().enumerate() {
        assert!(
            closed_within(s, WAIT).await,
            "silent connection {i} kept open"
        );
    }
    assert!(
        closed_within(&mut kept, WAIT).await,
        "idle keep-alive kept open"
    );
    assert!(closed_within(&mut h2, WAIT).await, "idle HTTP/2 kept open");
    assert_eq!(rec.backend.hits(), 1);
}

/// An HTTP/2 connection without streams is idle, however many PINGs its client sends: frames
/// outside a stream do not hold a connection open, so "many idle connections" cannot be kept
/// alive cheaply.
#[tokio::test]
async fn an_http2_connection_without_streams_is_closed_though_it_pings() {
    let (rec, gw) = setup("server: { idle_timeout: 1s }\n").await;
    let mut h2 = TcpStream::connect(gw.addr()).await.expect("connect");
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    // A PING every 200 ms, well inside the idle timeout, each read back (the PONG) or not.
    const PING: &[u8] = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00pingpong";
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    let closed = loop {
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        if h2.write_all(PING).await.is_err() {
            break true;
        }
        let read = tokio::time::timeout(Duration::from_millis(200), h2.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            break true;
        }
    };
    assert!(
        closed,
        "a connection without streams was kept open by PINGs"
    );
    assert_eq!(rec.backend.hits(), 0);
}

/// The other side of the rule above: an HTTP/2 response that trickles for three times the idle
/// timeout is carried to its end, as its stream is open and moving.
#[tokio::test]
async fn an_http2_stream_that_keeps_moving_outlives_the_idle_timeout() {
    let backend = Backend::start(|_req| async {
        let (tx, body) = channel_body();
        tokio::spawn(async move {
            for i in 0..10u8 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if tx.send(Bytes::from(vec![b'0' + i])).await.is_err() {
                    return;
                }
            }
        });
        Response::new(body)
    })
    .await;
    let gw = TestGateway::start(&config(backend.addr, "server: { idle_timeout: 1s }\n")).await;
    let req = Request::get(gw.url("/api/trickle"))
        .body(empty())
        .expect("request");
    let (parts, body) = send(&h2_client(), req).await;
    assert_eq!(parts.status, 200);
    assert_eq!(&body[..], b"0123456789", "the whole trickled body arrived");
}

/// A response body of up to 1 GiB, made as fast as it is taken; `dropped` is set when the
/// gateway lets go of it.
struct Endless {
    left: u64,
    dropped: Arc<AtomicBool>,
}

impl hyper::body::Body for Endless {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = this.left.min(64 * 1024);
        this.left -= n;
        let data = Bytes::from(vec![b'r'; n as usize]);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(data))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_the_upstream_released() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let backend = Backend::start(move |_req| {
        let body = Endless {
            left: 1 << 30,
            dropped: d.clone(),
        };
        async move { Response::new(body.boxed()) }
    })
    .await;
    let server = "server: { idle_timeout: 1s }\n";
    let gw = TestGateway::start(&config(backend.addr, server)).await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /api/big HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    // Read nothing: the socket buffers fill, the gateway's writes stall, and nothing moves.
    let mut released = false;
    for _ in 0..300 {
        if dropped.load(Ordering::SeqCst) {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        released,
        "a client that reads nothing held its upstream response for 15 s"
    );
    // What was buffered can still be read, then the connection ends.
    assert!(
        closed_within(&mut s, WAIT).await,
        "the connection stayed open"
    );
}

#[tokio::test]
async fn a_trickled_upload_is_bounded_by_the_route_timeout() {
    // A byte every 200 ms is activity, so the idle timeout never fires; the route's deadline
    // for the response head (which counts from when forwarding started) ends it.
    let rec = Recorder::start().await;
    let yaml = config(rec.addr(), "").replace(
        "    service: backend\n  - name: small",
        "    service: backend\n    timeout: 1s\n  - name: small",
    );
    let gw = TestGateway::start(&yaml).await;
    let s = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(b"POST /api/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        .await
        .expect("write");
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b"t").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    while responses(&got).is_empty() {
        match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    trickle.abort();
    let r = responses(&got);
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [504],
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(
        r[0].problem()["type"],
        "urn:banyan:problem:upstream-timeout"
    );
    assert_eq!(rec.complete().await, []);
}

#[tokio::test]
async fn the_head_clock_runs_again_after_a_slow_request() {
    // A request that outlasts header_read_timeout leaves the connection waiting for the next
    // head, and that wait is timed too: the connection closes after the header timeout, not
    // after the much longer idle timeout.
    let backend = Backend::start(|_req| async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Response::new(full("slow"))
    })
    .await;
    let server = "server: { header_read_timeout: 1s, idle_timeout: 60s }\n";
    let gw = TestGateway::start(&config(backend.addr, server)).await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let first = read_response(&mut s, WAIT).await;
    assert_eq!(responses(&first).first().map(|r| r.status), Some(200));
    assert!(
        closed_within(&mut s, Duration::from_secs(4)).await,
        "an idle keep-alive connection outlived header_read_timeout"
    );
}

/// [`config`] with one more route, `/tight/...`, whose head limit is lowered to `tight`; the
/// others keep the server's (by default 32 KiB). The new route is `routes[3]`.
fn route_head_limit_config(backend: std::net::SocketAddr, server: &str, tight: &str) -> String {
    format!(
        "{}  - name: tight\n    match: {{ path: \"/tight/{{*rest}}\" }}\n    service: backend\n    max_header_bytes: {tight}\n",
        config(backend, server)
    )
}

/// A request head whose size, as the limits count it (the target, plus name + value + 4 for
/// each field), is exactly `size` bytes. Its fields are `Host: a`, `Connection: close` and
/// one `X-Pad` filling the rest.
fn head_of_size(path: &str, size: usize) -> Vec<u8> {
    let fixed = path.len() + ("host".len() + 1 + 4) + ("connection".len() + 5 + 4);
    let pad = size - fixed - ("x-pad".len() + 4);
    format!(
        "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Pad: {}\r\n\r\n",
        "v".repeat(pad)
    )
    .into_bytes()
}

/// A route's `max_header_bytes` lowers the head limit for that route only: a head over it gets
/// a 431 problem there (and nothing reaches the upstream), while the same head is served on a
/// route that keeps the server's limit.
#[tokio::test]
async fn a_route_can_lower_the_head_limit_for_itself_alone() {
    let rec = Recorder::start().await;
    let gw = TestGateway::start(&route_head_limit_config(rec.addr(), "", "1KiB")).await;

    let p = expect_problem(&gw, head_of_size("/tight/x", 2000), 431).await;
    assert_eq!(p["type"], "urn:banyan:problem:headers-too-large", "{p}");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("1024")),
        "the detail gives the route's limit: {p}"
    );
    assert_eq!(
        rec.uris(),
        Vec::<String>::new(),
        "nothing reached the upstream"
    );

    let text = raw(gw.addr(), &head_of_size("/api/x", 2000), WAIT).await;
    assert_eq!(
        statuses(&text),
        [200],
        "the server's limit applies elsewhere: {text}"
    );

    // The route's limit is inclusive, counted as the server's is.
    let text = raw(gw.addr(), &head_of_size("/tight/at-limit", 1024), WAIT).await;
    assert_eq!(statuses(&text), [200], "a head of exactly 1 KiB: {text}");
    expect_problem(&gw, head_of_size("/tight/over", 1025), 431).await;

    // Over HTTP/2, the same limit and the same problem.
    let pad = "v".repeat(2000);
    let req = |path: &str| {
        Request::get(format!("http://a{path}"))
            .header("x-pad", pad.as_str())
            .body(())
            .expect("request")
    };
    let (status, body) = h2_request(gw.addr(), req("/tight/h2"), None).await;
    assert_eq!(status, 431, "{body:?}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("problem");
    assert_eq!(v["type"], "urn:banyan:problem:headers-too-large");
    let (status, _) = h2_request(gw.addr(), req("/api/h2"), None).await;
    assert_eq!(status, 200);

    assert_eq!(rec.uris(), ["/api/x", "/tight/at-limit", "/api/h2"]);
}

/// A route cannot raise the head limit above the server's, since the head is read before the
/// route is known: such a config is refused, naming the route's field, and the running config
/// keeps serving.
#[tokio::test]
async fn a_route_head_limit_above_the_servers_is_refused() {
    let rec = Recorder::start().await;
    let good = route_head_limit_config(rec.addr(), "", "1KiB");
    let gw = TestGateway::start(&good).await;

    let raised =
        route_head_limit_config(rec.addr(), "server: { max_header_bytes: 8KiB }\n", "16KiB");
    let errors = gw
        .reload(&raised)
        .await
        .expect_err("a raised head limit is refused");
    assert_eq!(errors.len(), 1, "exactly one error:\n{errors}");
    let e = &errors.0[0];
    assert_eq!(e.position.path, "routes[3].max_header_bytes", "{errors}");
    assert!(e.position.line > 0, "the error is located: {errors}");
    assert!(
        e.message.contains("server.max_header_bytes"),
        "the message names the server's limit: {errors}"
    );
    assert_eq!(gw.gateway.snapshot().revision, 1);
    expect_problem(&gw, head_of_size("/tight/x", 2000), 431).await;

    // `banyan validate` refuses the same file, with the same path.
    let path = scratch_dir().join("raised.yaml");
    std::fs::write(&path, &raised).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_banyan"))
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .expect("run banyan validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: routes[3].max_header_bytes (line "),
        "{stderr}"
    );
}
