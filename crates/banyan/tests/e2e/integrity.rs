//! What passes through arrives intact or visibly broken, never silently changed: large bodies
//! are byte-identical both ways, a truncated upstream body reaches the client as an error
//! (never as a shorter complete response), trailers are kept, a client that goes away cancels
//! its upstream request, and a request the upstream broke off is never sent twice.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(10);
const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

type Slot = Arc<std::sync::Mutex<Option<DigestSlot>>>;

/// `POST` answers the length and digest of what arrived; `GET /N` sends N pattern bytes and
/// leaves their digest in the slot.
async fn bulk_backend(slot: Slot) -> Backend {
    Backend::start(move |req| {
        let slot = slot.clone();
        async move {
            if req.method() == http::Method::POST {
                let body = match digest_of(req.into_body()).await {
                    Ok((len, digest)) => format!("{len} {digest}"),
                    Err(e) => format!("error {e}"),
                };
                return Response::new(full(body));
            }
            let len: u64 = req
                .uri()
                .path()
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let (body, digest) = Generated::new(len);
            *slot.lock().expect("lock") = Some(digest);
            Response::new(body.boxed())
        }
    })
    .await
}

/// A 64 MiB upload and a 64 MiB download through the gateway arrive byte for byte: nothing is
/// lost, repeated or reordered, whatever flow control each hop has.
pub(crate) async fn big_bodies_arrive_byte_identical(
    client: Client<HttpConnector, Body>,
    upstream: Upstream,
) {
    let slot: Slot = Arc::default();
    let backend = bulk_backend(slot.clone()).await;
    let gw = TestGateway::start(&upstream.config(backend.addr)).await;
    let len = 64 * MIB;
    let bound = Duration::from_secs(120);

    let (body, sent) = Generated::new(len);
    let req = Request::post(gw.url("/up"))
        .body(body.boxed())
        .expect("request");
    let (parts, answer) = tokio::time::timeout(bound, send(&client, req))
        .await
        .expect("the upload finished in time");
    assert_eq!(parts.status, StatusCode::OK, "{answer:?}");
    let sent = sent.lock().expect("lock").clone().expect("upload digest");
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{len} {sent}"),
        "the upload changed on its way ({upstream:?} upstream)"
    );

    let req = Request::get(gw.url(&format!("/down/{len}")))
        .body(empty())
        .expect("request");
    let got = tokio::time::timeout(bound, async {
        let resp = client.request(req).await.expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        digest_of(resp.into_body()).await
    })
    .await
    .expect("the download finished in time")
    .expect("whole download");
    let made = slot.lock().expect("lock").clone().expect("download made");
    let made = made.lock().expect("lock").clone().expect("download digest");
    assert_eq!(
        got,
        (len, made),
        "the download changed on its way ({upstream:?} upstream)"
    );
    upstream.assert_spoken_to(&backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_arrive_byte_identical_over_http1() {
    big_bodies_arrive_byte_identical(h1_client(), Upstream::Http1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_arrive_byte_identical_over_http2() {
    big_bodies_arrive_byte_identical(h2_client(), Upstream::Http1).await;
}

/// An upstream that reads a request head, then answers with `head` and `body` and closes.
async fn broken_upstream(
    head: &'static str,
    body: &'static str,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        // Bounded: each test makes a handful of requests.
        for _ in 0..16 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = read_request_head(&mut s, WAIT).await;
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, task)
}

/// Asserts that a response whose upstream body was cut off reaches HTTP/1.1 and HTTP/2
/// clients as an error, and raw HTTP/1.1 as a response whose framing never completes.
async fn truncation_is_an_error(head: &'static str, body: &'static str) {
    let (addr, task) = broken_upstream(head, body).await;
    let gw = TestGateway::start(&proxy_config(&[addr], "")).await;

    for (name, client) in [("HTTP/1.1", h1_client()), ("HTTP/2", h2_client())] {
        let req = Request::get(gw.url("/file"))
            .body(empty())
            .expect("request");
        let outcome = match client.request(req).await {
            Err(e) => Err(e.to_string()),
            Ok(resp) => resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(|e| e.to_string()),
        };
        assert!(
            outcome.is_err(),
            "{name}: a cut-off body arrived as complete: {outcome:?}"
        );
    }

    let text = raw(
        gw.addr(),
        b"GET /file HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let r = responses(text.as_bytes());
    assert!(
        !r.is_empty() && r.iter().all(|r| !r.complete || r.status >= 500),
        "a cut-off body was framed as complete: {text:?}"
    );
    task.abort();
}

#[tokio::test]
async fn a_truncated_content_length_body_reaches_the_client_as_an_error() {
    truncation_is_an_error(
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        "0123456789",
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_cut_before_its_last_chunk_reaches_the_client_as_an_error() {
    truncation_is_an_error(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "a\r\n0123456789\r\n",
    )
    .await;
}

/// A backend whose responses carry `x-checksum` and `x-count` as trailers, and a hop-by-hop
/// field that must not pass: `keep-alive` from an HTTP/1.1 backend; `proxy-authenticate` from an
/// HTTP/2 one, which may not send connection fields at all, so that only the gateway can keep
/// the field from the client.
async fn trailer_backend(upstream: Upstream) -> (Backend, &'static str) {
    let (hop, value) = match upstream {
        Upstream::Http1 => ("keep-alive", "timeout=5"),
        Upstream::Http2 => ("proxy-authenticate", "Basic"),
    };
    let backend = Backend::start(move |_req| async move {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc123".parse().expect("value"));
        trailers.insert("x-count", "3".parse().expect("value"));
        trailers.insert(hop, value.parse().expect("value"));
        let body = WithTrailers {
            data: Some(Bytes::from_static(b"one two three")),
            trailers: Some(trailers),
        };
        let mut resp = Response::new(body.boxed());
        if upstream == Upstream::Http1 {
            // Announced, as HTTP/1.1 senders should; the HTTP/2 one shows it is not needed.
            let announced = format!("x-checksum, x-count, {hop}");
            resp.headers_mut()
                .insert("trailer", announced.parse().expect("value"));
        }
        resp
    })
    .await;
    (backend, hop)
}

/// A gRPC-style response (its status in trailers) reaches an HTTP/2 client with its trailers,
/// less the hop-by-hop ones; the client's `TE: trailers` is passed on.
pub(crate) async fn trailers_reach_an_http2_client(upstream: Upstream) {
    let (backend, hop) = trailer_backend(upstream).await;
    let gw = TestGateway::start(&upstream.config(backend.addr)).await;
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let req = Request::get("http://a/t")
        .header("te", "trailers")
        .body(())
        .expect("request");
    let (resp, _) = client.send_request(req, true).expect("send");
    let resp = tokio::time::timeout(WAIT, resp)
        .await
        .expect("in time")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let (data, trailers) = tokio::time::timeout(WAIT, async {
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("data");
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        (data, body.trailers().await)
    })
    .await
    .expect("the body ends in time");
    assert_eq!(data, b"one two three");
    let trailers = trailers
        .expect("trailers")
        .expect("the upstream's trailers were passed on");
    assert_eq!(trailers["x-checksum"], "abc123", "{trailers:?}");
    assert_eq!(trailers["x-count"], "3", "{trailers:?}");
    assert!(
        !trailers.contains_key(hop),
        "a hop-by-hop trailer was passed on: {trailers:?}"
    );
    assert_eq!(
        backend
            .last()
            .expect("seen")
            .headers
            .get("te")
            .map(|v| v.as_bytes()),
        Some(&b"trailers"[..]),
        "the client's wish for trailers is passed on"
    );
    upstream.assert_spoken_to(&backend);
    conn.abort();
}

/// An HTTP/1.1 client that asks for trailers gets them after the last chunk, less the
/// hop-by-hop ones.
pub(crate) async fn trailers_reach_an_http1_client_that_asks(upstream: Upstream) {
    let (backend, hop) = trailer_backend(upstream).await;
    let gw = TestGateway::start(&upstream.config(backend.addr)).await;
    let text = raw(
        gw.addr(),
        b"GET /t HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let r = responses(text.as_bytes());
    assert_eq!(r.len(), 1, "{text}");
    assert!(r[0].complete, "{text}");
    assert_eq!(r[0].body, b"one two three", "{text}");
    let lower = text.to_ascii_lowercase();
    let tail = lower
        .rsplit_once("\r\n0\r\n")
        .map(|(_, t)| t)
        .unwrap_or_default();
    assert!(
        tail.contains("x-checksum: abc123\r\n") && tail.contains("x-count: 3\r\n"),
        "no trailers after the last chunk: {text:?}"
    );
    assert!(
        !tail.contains(hop),
        "a hop-by-hop trailer was passed on: {text:?}"
    );
    upstream.assert_spoken_to(&backend);
}

#[tokio::test]
async fn upstream_trailers_reach_an_http2_client() {
    trailers_reach_an_http2_client(Upstream::Http1).await;
}

#[tokio::test]
async fn upstream_trailers_reach_an_http1_client_that_asks_for_them() {
    trailers_reach_an_http1_client_that_asks(Upstream::Http1).await;
}

/// A backend that streams up to 1 GiB to each request and notes how much it made and when
/// the gateway dropped its body.
struct Producer {
    backend: Backend,
    produced: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
}

struct Endless {
    left: u64,
    produced: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
}

impl hyper::body::Body for Endless {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let n = CHUNK.min(this.left as usize);
        this.left -= n as u64;
        this.produced.fetch_add(n as u64, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'z'; n])))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl Producer {
    async fn start() -> Producer {
        let produced = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicBool::new(false));
        let (p, d) = (produced.clone(), dropped.clone());
        let backend = Backend::start(move |_req| {
            let body = Endless {
                left: 1 << 30,
                produced: p.clone(),
                dropped: d.clone(),
            };
            async move { Response::new(body.boxed()) }
        })
        .await;
        Producer {
            backend,
            produced,
            dropped,
        }
    }

    /// Waits (bounded) for the backend's body to be dropped; true if it was.
    async fn dropped_soon(&self) -> bool {
        for _ in 0..200 {
            if self.dropped.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

#[tokio::test]
async fn a_client_that_goes_away_mid_response_cancels_the_upstream_request() {
    let p = Producer::start().await;
    let gw = TestGateway::start(&proxy_config(&[p.backend.addr], "")).await;

    // HTTP/1.1: read a little, then close the socket.
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let mut got = 0usize;
    let mut buf = [0u8; 16 * 1024];
    while got < 256 * 1024 {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got += n,
            other => panic!("the stream stopped early: {other:?}"),
        }
    }
    drop(s);
    assert!(p.dropped_soon().await, "the upstream response kept going");
    assert!(
        p.produced.load(Ordering::SeqCst) < 1 << 30,
        "the whole gibibyte was made for nobody"
    );

    // HTTP/2: reset the stream, keep the connection.
    p.dropped.store(false, Ordering::SeqCst);
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let req = Request::get("http://a/stream2").body(()).expect("request");
    let (resp, _) = client.send_request(req, true).expect("send");
    let resp = tokio::time::timeout(WAIT, resp)
        .await
        .expect("in time")
        .expect("response");
    let mut body = resp.into_body();
    let first = body.data().await.expect("some data").expect("data");
    assert!(!first.is_empty());
    drop(body); // RST_STREAM(CANCEL)
    assert!(
        p.dropped_soon().await,
        "the upstream response kept going after a reset"
    );
    conn.abort();
}

#[tokio::test]
async fn a_client_that_goes_away_mid_upload_never_completes_the_upstream_request() {
    let rec = Recorder::start().await;
    let gw = TestGateway::start(&proxy_config(&[rec.addr()], "")).await;
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .await
        .expect("write");
    s.write_all(&[b'u'; 30_000]).await.expect("write");
    rec.backend.wait_hits(1).await;
    drop(s);
    // The backend's read of the body ends in an error, not in a short "complete" body.
    for _ in 0..200 {
        if !rec.records.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let records = rec.records.lock().expect("lock").clone();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].body.is_err(), "{:?}", records[0].body);
}

/// An upstream that answers GETs normally (keep-alive) and, to a POST, reads the whole request,
/// counts it, and resets the connection.
async fn resetting_upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let posts = Arc::new(AtomicUsize::new(0));
    let counted = posts.clone();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                // A bounded number of requests per connection.
                for _ in 0..8 {
                    let head = read_request_head(&mut s, WAIT).await;
                    if head.is_empty() {
                        return;
                    }
                    if head.starts_with(b"POST") {
                        // The body is small and follows the head; wait for a little of it.
                        let mut buf = [0u8; 1024];
                        let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf))
                            .await;
                        counted.fetch_add(1, Ordering::SeqCst);
                        // A zero linger turns the close into a RST; it never blocks, which is
                        // what the deprecation warns about.
                        #[allow(deprecated)]
                        let _ = s.set_linger(Some(Duration::ZERO));
                        return;
                    }
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                }
            });
        }
    });
    (addr, posts)
}

#[tokio::test]
async fn a_post_the_upstream_resets_is_a_502_and_never_replayed() {
    for warm in [false, true] {
        let (addr, posts) = resetting_upstream().await;
        let gw = TestGateway::start(&proxy_config(&[addr], "")).await;
        let client = h1_client();
        if warm {
            // Put a kept-alive upstream connection in the pool first.
            let (parts, body) = get(&gw.url("/warm")).await;
            assert_eq!((parts.status, &body[..]), (StatusCode::OK, &b"ok"[..]));
        }
        let req = Request::post(gw.url("/pay"))
            .header("content-type", "application/json")
            .body(full("{\"amount\":100}"))
            .expect("request");
        let (parts, body) = send(&client, req).await;
        assert_eq!(parts.status, StatusCode::BAD_GATEWAY, "warm: {warm}");
        let p = problem(&parts, &body);
        assert_eq!(p["type"], "urn:banyan:problem:upstream-reset");
        // Give a replay every chance to happen before counting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            posts.load(Ordering::SeqCst),
            1,
            "warm: {warm}: the POST was replayed"
        );
    }
}
