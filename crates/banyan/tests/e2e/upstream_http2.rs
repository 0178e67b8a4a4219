//! A service with `protocol: http2` is spoken to in HTTP/2 cleartext (prior knowledge),
//! whatever the client speaks to the gateway.

use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;

use crate::harness::*;

fn h2_config(backend: std::net::SocketAddr) -> String {
    proxy_config(&[backend], "")
        .replace("    endpoints: [", "    protocol: http2\n    endpoints: [")
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
