//! A service with `protocol: http2` is spoken to in HTTP/2 cleartext (prior knowledge),
//! whatever the client speaks to the gateway.

use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;

use crate::harness::*;

pub(crate) fn h2_config(backend: std::net::SocketAddr) -> String {
    Upstream::Http2.config(backend)
}

#[tokio::test]
async fn an_http2_service_is_reached_over_h2c_from_both_client_protocols() {
    // Echoes the request body, so that bodies are shown to cross the HTTP/2 hop too.
    let backend = Backend::start(|req: Request<hyper::body::Incoming>| async move {
        let version = format!("{:?}", req.version());
        let body = req.into_body().collect().await.map(|b| b.to_bytes());
        let body = body.unwrap_or_default();
        http::Response::builder()
            .header("x-upstream-version", version)
            .body(full(body))
            .expect("response")
    })
    .await;
    let yaml = h2_config(backend.addr);
    assert!(yaml.contains("protocol: http2"), "{yaml}");
    let gw = TestGateway::start(&yaml).await;
    for (client, version) in [
        (h1_client(), Version::HTTP_11),
        (h2_client(), Version::HTTP_2),
    ] {
        for i in 0..3 {
            let req = Request::post(gw.url(&format!("/items/{i}")))
                .version(version)
                .body(full(format!("payload {i}")))
                .expect("request");
            let (parts, body) = send(&client, req).await;
            assert_eq!(parts.status, StatusCode::OK, "{version:?}: {body:?}");
            assert_eq!(parts.version, version);
            assert_eq!(parts.headers["x-upstream-version"], "HTTP/2.0");
            assert_eq!(body, format!("payload {i}"));
        }
    }
    let seen = backend.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 6);
    for s in &seen {
        assert_eq!(s.version, Version::HTTP_2, "{s:?}");
        assert!(
            s.uri
                .ends_with(&format!("/items/{}", &s.uri[s.uri.len() - 1..]))
        );
    }
}

/// HTTP/2 carries the authority in `:authority`; a `Host` beside it must not disagree
/// (RFC 9113 8.3.1), whichever host the route sends.
#[tokio::test]
async fn the_http2_authority_is_the_host_the_route_sends() {
    let backend = Backend::start(|req: Request<hyper::body::Incoming>| async move {
        let authority = req.uri().authority().map(|a| a.to_string());
        let host = req
            .headers()
            .get("host")
            .map(|h| h.to_str().unwrap_or("?").to_string());
        http::Response::new(full(format!("{authority:?} {host:?}")))
    })
    .await;
    for (extra, want) in [
        ("", format!("Some({:?}) None", backend.addr.to_string())),
        (
            "    rewrite: { host: client }\n",
            "Some(\"api.example.com:8080\") None".to_string(),
        ),
    ] {
        let yaml = h2_config(backend.addr)
            .replace("service: backend\n", &format!("service: backend\n{extra}"));
        let gw = TestGateway::start(&yaml).await;
        for version in [Version::HTTP_11, Version::HTTP_2] {
            let body = request_as(gw.addr(), version, "api.example.com:8080").await;
            assert_eq!(body, want, "{version:?} {extra:?}");
        }
        // An empty `Host:` is a field too, and goes like any other.
        let body = request_as(gw.addr(), Version::HTTP_11, "").await;
        assert!(body.ends_with(" None"), "{extra:?}: {body}");
    }
}

/// GET `/x` from the gateway at `addr` naming `host`: in `Host` over HTTP/1.1, in
/// `:authority` over HTTP/2.
async fn request_as(addr: std::net::SocketAddr, version: Version, host: &str) -> String {
    let io =
        hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    let resp = if version == Version::HTTP_2 {
        let (mut tx, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .expect("handshake");
        tokio::spawn(conn);
        let req = Request::get(format!("http://{host}/x"))
            .body(empty())
            .expect("request");
        tx.send_request(req).await.expect("response")
    } else {
        let (mut tx, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let req = Request::get("/x")
            .header("host", host)
            .body(empty())
            .expect("request");
        tx.send_request(req).await.expect("response")
    };
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// Requests that find no HTTP/2 connection open wait for one being opened rather than each
/// opening their own.
#[tokio::test]
async fn concurrent_first_requests_share_one_http2_connection() {
    let backend = Backend::fixed("ok").await;
    let gw = TestGateway::start(&h2_config(backend.addr)).await;
    let client = h1_client();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            let url = gw.url(&format!("/x/{i}"));
            tokio::spawn(async move {
                send(&client, Request::get(url).body(empty()).expect("request")).await
            })
        })
        .collect();
    for t in tasks {
        let (parts, body) = t.await.expect("task");
        assert_eq!(parts.status, StatusCode::OK, "{body:?}");
    }
    assert_eq!(
        backend
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

/// The shared HTTP/2 connection is let go after the service's idle timeout, like idle
/// HTTP/1.1 connections.
#[tokio::test]
async fn an_idle_http2_connection_is_let_go_after_the_idle_timeout() {
    let backend = Backend::fixed("ok").await;
    let yaml = h2_config(backend.addr).replace(
        "    protocol: http2\n",
        "    protocol: http2\n    timeouts: { idle: 300ms }\n",
    );
    assert!(yaml.contains("idle: 300ms"), "{yaml}");
    let gw = TestGateway::start(&yaml).await;
    assert_eq!(get(&gw.url("/a")).await.0.status, StatusCode::OK);
    assert_eq!(get(&gw.url("/b")).await.0.status, StatusCode::OK);
    let conns = || {
        backend
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    assert_eq!(conns(), 1, "reused while fresh");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(get(&gw.url("/c")).await.0.status, StatusCode::OK);
    assert_eq!(conns(), 2, "a new connection after the idle timeout");
}

/// An HTTP/2 upstream (the h2 crate's server) that refuses its first `refuse` streams with
/// REFUSED_STREAM, unprocessed, and answers the others; counts the streams it saw.
async fn refusing_upstream(
    refuse: usize,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let task = tokio::spawn(async move {
        // Bounded: a test here opens a connection or two.
        for _ in 0..4 {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let seen = counted.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    if seen.fetch_add(1, Ordering::SeqCst) < refuse {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    if let Ok(mut body) = respond.send_response(http::Response::new(()), false) {
                        let _ = body.send_data(bytes::Bytes::from_static(b"answered"), true);
                    }
                }
            });
        }
    });
    (addr, seen, task)
}

/// A stream the upstream refused unprocessed is safe to send again (RFC 9113 8.7), once, and
/// only when there is no body that was already spent on the first try.
#[tokio::test]
async fn a_refused_stream_without_a_body_is_sent_again_once() {
    use std::sync::atomic::Ordering;
    for (refuse, method, body, status, streams) in [
        (1, "GET", "", StatusCode::OK, 2),
        (2, "GET", "", StatusCode::BAD_GATEWAY, 2),
        (1, "POST", "payload", StatusCode::BAD_GATEWAY, 1),
    ] {
        let (addr, seen, task) = refusing_upstream(refuse).await;
        let gw = TestGateway::start(&h2_config(addr)).await;
        let req = Request::builder()
            .method(method)
            .uri(gw.url("/x"))
            .body(if body.is_empty() { empty() } else { full(body) })
            .expect("request");
        let (parts, got) = send(&h1_client(), req).await;
        let case = format!("{method} refused {refuse}×: {got:?}");
        assert_eq!(parts.status, status, "{case}");
        if status == StatusCode::OK {
            assert_eq!(got, "answered", "{case}");
        } else {
            assert_eq!(
                problem(&parts, &got)["type"],
                "urn:banyan:problem:upstream-reset"
            );
        }
        assert_eq!(seen.load(Ordering::SeqCst), streams, "{case}");
        task.abort();
    }
}

/// An upstream whose first connection answers the first request with GOAWAY (last stream id
/// 0: nothing processed) and closes; later connections are served by the h2 crate's server.
#[tokio::test]
async fn a_stream_above_a_goaway_last_stream_id_is_sent_again() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let upstream = tokio::spawn(async move {
        let (mut raw, _) = listener.accept().await.expect("accept");
        counted.fetch_add(1, Ordering::SeqCst);
        // The client's preface and frames, answered with the least HTTP/2 that holds up.
        raw.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
            .await
            .expect("settings");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let mut at = 24; // past the preface: the next frame to look at
        'read: loop {
            let n = raw.read(&mut buf).await.expect("read");
            assert!(n > 0, "the gateway closed before sending its request");
            got.extend_from_slice(&buf[..n]);
            while got.len() >= at + 9 {
                let len = usize::from(got[at]) << 16
                    | usize::from(got[at + 1]) << 8
                    | usize::from(got[at + 2]);
                if got.len() < at + 9 + len {
                    break; // the rest of this frame is still on its way
                }
                let (kind, flags) = (got[at + 3], got[at + 4]);
                at += 9 + len;
                if kind == 4 && flags & 1 == 0 {
                    raw.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0])
                        .await
                        .expect("ack");
                }
                if kind == 1 {
                    // GOAWAY, last stream id 0, NO_ERROR.
                    let goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                    raw.write_all(&goaway).await.expect("goaway");
                    break 'read;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(raw);
        // The next connection gets a real answer.
        let (sock, _) = listener.accept().await.expect("accept again");
        counted.fetch_add(1, Ordering::SeqCst);
        let mut conn = h2::server::handshake(sock).await.expect("handshake");
        while let Some(Ok((_req, mut respond))) = conn.accept().await {
            if let Ok(mut body) = respond.send_response(http::Response::new(()), false) {
                let _ = body.send_data(bytes::Bytes::from_static(b"answered"), true);
            }
        }
    });
    let gw = TestGateway::start(&h2_config(addr)).await;
    let (parts, body) = get(&gw.url("/x")).await;
    assert_eq!(parts.status, StatusCode::OK, "{body:?}");
    assert_eq!(&body[..], b"answered");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    upstream.abort();
}

/// An upload answered before its body was read ends with a reset (`NO_ERROR`), and the data
/// the gateway had already sent upstream arrives after it. An HTTP/2 server must not take that
/// for abuse. Here the upstream is a second gateway answering uploads itself: 1,280 of them
/// over the pooled connection, 32 at a time, are all answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_answered_early_by_an_http2_upstream_all_pass() {
    let origin = TestGateway::start(
        r#"listeners:
  - { name: origin, address: "127.0.0.1:0" }
admin: { enabled: false }
routes:
  - name: answered
    match: { methods: [POST], path: /upload }
    respond: { status: 201 }
"#,
    )
    .await;
    let gw = TestGateway::start(&h2_config(origin.addr())).await;
    let client = h1_client();
    let body = bytes::Bytes::from(vec![b'u'; 64 * 1024]);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, body, url) = (client.clone(), body.clone(), gw.url("/upload"));
        tasks.spawn(async move {
            for _ in 0..40 {
                let req = Request::post(&url)
                    .body(full(body.clone()))
                    .expect("request");
                let (parts, problem) = send(&client, req).await;
                assert_eq!(parts.status, StatusCode::CREATED, "{problem:?}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("every upload answered 201");
    }
}

/// An HTTP/2 upstream that answered an upload before its end, and still takes the rest: the
/// answer is written while the client is still sending, so the body is with the upstream
/// exchange, not back on the client's connection. The answer then says `Connection: close`, and
/// the connection ends after it: a keep-alive promised here would be broken under the client's
/// next request.
#[tokio::test]
async fn an_answer_written_while_the_upload_goes_on_ends_the_connection() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let upstream = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.expect("accept");
        let mut conn = h2::server::handshake(sock).await.expect("handshake");
        // Each request's body stays open and unread: the stream is not reset.
        let mut open = Vec::new();
        while let Some(Ok((req, mut respond))) = conn.accept().await {
            let _ = respond.send_response(http::Response::new(()), true);
            open.push(req);
        }
    });
    let gw = TestGateway::start(&h2_config(addr)).await;
    let mut c = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("connect");
    c.write_all(b"POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100000\r\n\r\n")
        .await
        .expect("head");
    c.write_all(&[b'u'; 1000]).await.expect("part of the body");
    let wait = std::time::Duration::from_secs(5);
    let got = crate::wire::read_response(&mut c, wait).await;
    let answer = crate::wire::responses(&got);
    assert_eq!(answer.len(), 1, "{}", String::from_utf8_lossy(&got));
    assert_eq!(answer[0].status, 200);
    assert_eq!(answer[0].header("connection"), Some("close"));
    assert!(closed_within(&mut c, wait).await, "the connection ends");
    upstream.abort();
}
