//! Bodies through a service spoken to over HTTP/2 (`protocol: http2`) arrive intact or visibly
//! broken, as they do through HTTP/1.1 upstreams: large bodies are byte-identical both ways,
//! trailers pass in both directions, a body the upstream cuts short reaches the client as an
//! error (never as a shorter complete response), and a slow body streams.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::harness::*;
use crate::integrity::{Slot, bulk_backend};
use crate::streaming::trickling_backend;
use crate::upstream_http2::h2_config;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(10);
const MIB: u64 = 1024 * 1024;

/// Every request the backend saw came over HTTP/2: the tests here would prove nothing about
/// the HTTP/2 hop if the gateway had spoken HTTP/1.1 to it.
fn assert_all_http2(backend: &Backend) {
    let seen = backend.seen.lock().expect("lock").clone();
    assert!(!seen.is_empty(), "the backend saw no request");
    for s in &seen {
        assert_eq!(
            s.version,
            Version::HTTP_2,
            "not spoken to over HTTP/2: {s:?}"
        );
    }
}

async fn big_bodies_cross_an_http2_upstream_byte_identical(client: Client<HttpConnector, Body>) {
    let slot: Slot = Arc::default();
    let backend = bulk_backend(slot.clone()).await;
    let gw = TestGateway::start(&h2_config(backend.addr)).await;
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
        "the upload changed on its way through the HTTP/2 upstream connection"
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
        "the download changed on its way through the HTTP/2 upstream connection"
    );
    assert_all_http2(&backend);
}

/// A 64 MiB upload and a 64 MiB download between an HTTP/1.1 client and an HTTP/2 service
/// arrive byte for byte: nothing is lost, repeated or reordered across HTTP/2 flow control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_cross_an_http2_upstream_byte_identical_from_http1() {
    big_bodies_cross_an_http2_upstream_byte_identical(h1_client()).await;
}

/// The same from an HTTP/2 client: HTTP/2 on both hops, each with its own flow control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_cross_an_http2_upstream_byte_identical_from_http2() {
    big_bodies_cross_an_http2_upstream_byte_identical(h2_client()).await;
}

/// An HTTP/2 backend whose responses carry `x-checksum` and `x-count` as trailers, and
/// `proxy-authenticate`: hop-by-hop, yet allowed on the HTTP/2 wire, so only the gateway can
/// keep it from the client.
async fn trailer_backend() -> Backend {
    Backend::start(|_req| async move {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc123".parse().expect("value"));
        trailers.insert("x-count", "3".parse().expect("value"));
        trailers.insert("proxy-authenticate", "Basic".parse().expect("value"));
        let body = WithTrailers {
            data: Some(Bytes::from_static(b"one two three")),
            trailers: Some(trailers),
        };
        Response::new(body.boxed())
    })
    .await
}

/// A gRPC-style response (its status in trailers) from an HTTP/2 service reaches an HTTP/2
/// client with its trailers, less the hop-by-hop ones; the client's `TE: trailers` is passed on.
#[tokio::test]
async fn trailers_from_an_http2_upstream_reach_an_http2_client() {
    let backend = trailer_backend().await;
    let gw = TestGateway::start(&h2_config(backend.addr)).await;
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
        !trailers.contains_key("proxy-authenticate"),
        "a hop-by-hop trailer was passed on: {trailers:?}"
    );
    let seen = backend.last().expect("seen");
    assert_eq!(seen.version, Version::HTTP_2);
    assert_eq!(
        seen.headers.get("te").map(|v| v.as_bytes()),
        Some(&b"trailers"[..]),
        "the client's wish for trailers is passed on: {seen:?}"
    );
    conn.abort();
}

/// An HTTP/1.1 client that asks for trailers gets an HTTP/2 service's trailers after the last
/// chunk.
#[tokio::test]
async fn trailers_from_an_http2_upstream_reach_an_http1_client_that_asks_for_them() {
    let backend = trailer_backend().await;
    let gw = TestGateway::start(&h2_config(backend.addr)).await;
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
        !tail.contains("proxy-authenticate"),
        "a hop-by-hop trailer was passed on: {text:?}"
    );
    assert_all_http2(&backend);
}

/// A client's request trailers (a checksum after an upload, say) reach an HTTP/2 service,
/// from an HTTP/1.1 chunked body and from an HTTP/2 client, through the header policy: what a
/// header could not carry (identity, forwarding claims, the request id), a trailer cannot either.
#[tokio::test]
async fn request_trailers_reach_an_http2_upstream_through_the_header_policy() {
    let seen = Arc::new(Mutex::new(None));
    let slot = seen.clone();
    let backend = Backend::start(move |req: Request<Incoming>| {
        let slot = slot.clone();
        async move {
            let version = req.version();
            let collected = req.into_body().collect().await.expect("body");
            let trailers = collected.trailers().cloned();
            *slot.lock().expect("lock") = Some((version, trailers));
            Response::new(full("ok"))
        }
    })
    .await;
    let gw = TestGateway::start(&h2_config(backend.addr)).await;
    let check = |client: &str| {
        let (version, got) = seen
            .lock()
            .expect("lock")
            .take()
            .unwrap_or_else(|| panic!("{client}: the upstream read no body"));
        assert_eq!(version, Version::HTTP_2, "{client}");
        let got = got.unwrap_or_else(|| panic!("{client}: the upstream got no trailers"));
        assert_eq!(
            got.get("x-checksum").map(|v| v.as_bytes()),
            Some(&b"abc"[..]),
            "{client}: {got:?}"
        );
        for forged in ["x-banyan-consumer", "x-forwarded-for", "x-request-id"] {
            assert!(
                got.get(forged).is_none(),
                "{client}: {forged} passed as a trailer: {got:?}"
            );
        }
    };

    let text = raw(
        gw.addr(),
        b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\
          Connection: close\r\n\r\n7\r\npayload\r\n0\r\nx-checksum: abc\r\n\
          x-banyan-consumer: forged\r\nx-forwarded-for: 203.0.113.9\r\nx-request-id: forged-id\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&text), [200], "{text}");
    check("HTTP/1.1");

    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().expect("value"));
    trailers.insert("x-banyan-consumer", "forged".parse().expect("value"));
    trailers.insert("x-forwarded-for", "203.0.113.9".parse().expect("value"));
    trailers.insert("x-request-id", "forged-id".parse().expect("value"));
    let body = WithTrailers {
        data: Some(Bytes::from_static(b"payload")),
        trailers: Some(trailers),
    }
    .boxed();
    let req = Request::post(gw.url("/t")).body(body).expect("request");
    let (parts, _) = tokio::time::timeout(WAIT, send(&h2_client(), req))
        .await
        .expect("answered in time");
    assert_eq!(parts.status, StatusCode::OK);
    check("HTTP/2");
}

/// How an HTTP/2 upstream breaks off a response after its first bytes.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// `RST_STREAM` with `INTERNAL_ERROR` on the stream.
    ResetStream,
    /// The TCP connection closed, without `GOAWAY`.
    DropConnection,
    /// `END_STREAM` before the announced `content-length` was reached.
    EndShort,
}

const FIRST: &[u8] = b"0123456789";

/// An HTTP/2 upstream (the h2 crate's server) that answers every request `200` with
/// `content-length: length` if given, sends [`FIRST`], then waits for `go` and breaks off as
/// `cut` says.
async fn cutting_upstream(
    cut: Cut,
    length: Option<u64>,
    go: Arc<Notify>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        // Bounded: each case makes a connection or three.
        for _ in 0..8 {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let go = go.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                let drop_it = Arc::new(Notify::new());
                loop {
                    let next = tokio::select! {
                        next = conn.accept() => next,
                        // Dropping the connection closes the socket, mid-stream.
                        () = drop_it.notified() => return,
                    };
                    let Some(Ok((_req, mut respond))) = next else {
                        return;
                    };
                    let (go, drop_it) = (go.clone(), drop_it.clone());
                    tokio::spawn(async move {
                        let mut head = Response::builder().header("content-type", "text/plain");
                        if let Some(n) = length {
                            head = head.header("content-length", n);
                        }
                        let head = head.body(()).expect("response");
                        let Ok(mut body) = respond.send_response(head, false) else {
                            return;
                        };
                        let _ = body.send_data(Bytes::from_static(FIRST), false);
                        go.notified().await;
                        match cut {
                            Cut::ResetStream => body.send_reset(h2::Reason::INTERNAL_ERROR),
                            Cut::DropConnection => drop_it.notify_one(),
                            Cut::EndShort => {
                                let _ = body.send_data(Bytes::new(), true);
                            }
                        }
                    });
                }
            });
        }
    });
    (addr, task)
}

/// An HTTP/1.1 client (hyper's): the head and the first bytes arrive, then the body fails.
async fn hyper_h1_sees_an_error(gw: &TestGateway, go: &Notify, case: &str) {
    let outcome = tokio::time::timeout(WAIT, async {
        let req = Request::get(gw.url("/file"))
            .body(empty())
            .expect("request");
        let resp = h1_client().request(req).await.expect("response head");
        assert_eq!(resp.status(), StatusCode::OK, "{case}");
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while got.len() < FIRST.len() {
            let frame = body
                .frame()
                .await
                .unwrap_or_else(|| panic!("{case}: the body ended before its first bytes"))
                .unwrap_or_else(|e| panic!("{case}: the body failed before its first bytes: {e}"));
            if let Ok(data) = frame.into_data() {
                got.extend_from_slice(&data);
            }
        }
        assert_eq!(got, FIRST, "{case}");
        go.notify_one();
        body.collect().await.map(|c| c.to_bytes())
    })
    .await
    .unwrap_or_else(|_| panic!("{case}: HTTP/1.1: neither an end nor an error in time"));
    assert!(
        outcome.is_err(),
        "{case}: HTTP/1.1: a cut-off body arrived as complete: {outcome:?}"
    );
}

/// A raw HTTP/1.1 client on a keep-alive connection: a response whose framing never
/// completes, and the connection closed after it.
async fn raw_h1_sees_a_truncated_message(gw: &TestGateway, go: &Notify, case: &str) {
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /file HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let mut released = false;
    let closed = loop {
        if !released && responses(&got).first().is_some_and(|r| r.body == FIRST) {
            go.notify_one();
            released = true;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&got);
    assert!(released, "{case}: the first bytes never arrived: {text:?}");
    let r = responses(&got);
    assert_eq!(r.len(), 1, "{case}: {text:?}");
    assert_eq!(r[0].status, 200, "{case}: {text:?}");
    assert!(
        !r[0].complete,
        "{case}: a cut-off body was framed as complete: {text:?}"
    );
    assert!(
        closed,
        "{case}: the connection stayed open after a truncated response: {text:?}"
    );
}

/// An HTTP/2 client (the h2 crate's, to see the frames' meaning): the first bytes, then the
/// stream reset.
async fn h2_sees_a_stream_reset(gw: &TestGateway, go: &Notify, case: &str) {
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let req = Request::get("http://a/file").body(()).expect("request");
    let (resp, _) = client.send_request(req, true).expect("send");
    let end = tokio::time::timeout(WAIT, async {
        let resp = resp.await.expect("response head");
        assert_eq!(resp.status(), 200, "{case}");
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while got.len() < FIRST.len() {
            let chunk = body
                .data()
                .await
                .unwrap_or_else(|| panic!("{case}: the body ended before its first bytes"))
                .unwrap_or_else(|e| panic!("{case}: the body failed before its first bytes: {e}"));
            let _ = body.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, FIRST, "{case}");
        go.notify_one();
        loop {
            match body.data().await {
                Some(Ok(chunk)) => {
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(body.trailers().await),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{case}: HTTP/2: neither an end nor an error in time"));
    match end {
        Err(e) => assert!(
            e.is_reset(),
            "{case}: HTTP/2: the stream ended in an error that is not a stream reset: {e:?}"
        ),
        Ok(trailers) => panic!("{case}: HTTP/2: a cut-off body arrived as complete: {trailers:?}"),
    }
    conn.abort();
}

/// A response an HTTP/2 upstream breaks off after its first bytes (a stream reset, a dropped
/// connection, or an end before its `content-length`) reaches every client as broken: an
/// HTTP/1.1 client sees an incomplete message and a closed connection, an HTTP/2 client a
/// stream reset. None of them gets a complete, shorter response.
#[tokio::test]
async fn a_body_an_http2_upstream_cuts_short_reaches_the_client_as_an_error() {
    for (cut, length) in [
        (Cut::ResetStream, None),
        (Cut::ResetStream, Some(1000)),
        (Cut::DropConnection, None),
        (Cut::DropConnection, Some(1000)),
        (Cut::EndShort, Some(1000)),
    ] {
        let case = format!("{cut:?}, content-length {length:?}");
        let go = Arc::new(Notify::new());
        let (addr, task) = cutting_upstream(cut, length, go.clone()).await;
        let gw = TestGateway::start(&h2_config(addr)).await;
        hyper_h1_sees_an_error(&gw, &go, &case).await;
        raw_h1_sees_a_truncated_message(&gw, &go, &case).await;
        h2_sees_a_stream_reset(&gw, &go, &case).await;
        task.abort();
    }
}

/// The first bytes of a slow response from an HTTP/2 service reach the client before the
/// response ends, over either client protocol: a server-sent event stream is not held back
/// until it is over.
#[tokio::test]
async fn the_first_bytes_of_a_slow_response_from_an_http2_upstream_arrive_before_it_ends() {
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let (release, released) = tokio::sync::oneshot::channel();
        let backend = trickling_backend(Arc::new(Mutex::new(Some(released)))).await;
        let gw = TestGateway::start(&h2_config(backend.addr)).await;
        let client = if version == Version::HTTP_2 {
            h2_client()
        } else {
            h1_client()
        };
        let req = Request::get(gw.url("/stream"))
            .body(empty())
            .expect("request");
        // A gateway that buffered the body would wait here or below: the backend only
        // finishes once the test has seen the first chunk.
        let resp = tokio::time::timeout(WAIT, client.request(req))
            .await
            .unwrap_or_else(|_| panic!("{version:?}: the response head was held back"))
            .expect("response head");
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let first = tokio::time::timeout(WAIT, body.frame())
            .await
            .unwrap_or_else(|_| panic!("{version:?}: the first chunk was held back"))
            .expect("a frame")
            .expect("frame ok")
            .into_data()
            .expect("data");
        assert_eq!(&first[..], b"first", "{version:?}");
        release.send(()).expect("backend waiting");
        let rest = tokio::time::timeout(WAIT, body.collect())
            .await
            .expect("the rest arrives")
            .expect("body")
            .to_bytes();
        assert_eq!(&rest[..], b" and the rest", "{version:?}");
        assert_all_http2(&backend);
    }
}
