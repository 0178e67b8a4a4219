//! The upstream connection pool: idle connections are reused, closed after the service's idle
//! timeout, never handed a request after the upstream closed them, and never reused when a
//! response was abandoned halfway.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(5);

fn config(backend: std::net::SocketAddr, service: &str) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: backend
    endpoints: [{{ url: "http://{backend}" }}]
{service}
routes:
  - name: api
    match: {{ path: "/api/{{*rest}}" }}
    service: backend
"#
    )
}

/// A raw upstream: answers each request on a connection with a fixed 200 (keep-alive framing),
/// closes the connection itself after `answers` responses, and counts the connections it
/// accepted and the ones the gateway closed.
struct RawUpstream {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed_by_gateway: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    async fn start(answers: usize, linger: Duration) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (a, c) = (accepted.clone(), closed.clone());
        let task = tokio::spawn(async move {
            // Bounded: the tests below open a few dozen connections at most.
            for _ in 0..64 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..answers {
                        if read_request_head(&mut s, WAIT).await.is_empty() {
                            c.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                    }
                    // The upstream ends the connection on its own, as a keep-alive timeout
                    // or request cap would, without announcing it in the response.
                    tokio::time::sleep(linger).await;
                });
            }
        });
        RawUpstream {
            addr,
            accepted,
            closed_by_gateway: closed,
            task,
        }
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn idle_upstream_connections_are_closed_after_the_service_idle_timeout() {
    let up = RawUpstream::start(100, Duration::ZERO).await;
    let gw = TestGateway::start(&config(up.addr, "    timeouts: { idle: 300ms }")).await;
    let (parts, body) = get(&gw.url("/api/one")).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"ok");
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);

    let deadline = tokio::time::Instant::now() + WAIT;
    while up.closed_by_gateway.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle upstream connection was kept open past its idle timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next request opens a fresh connection and is served.
    let (parts, _) = get(&gw.url("/api/two")).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connections_within_the_idle_timeout_are_reused() {
    let up = RawUpstream::start(100, Duration::ZERO).await;
    let gw = TestGateway::start(&config(up.addr, "    timeouts: { idle: 30s }")).await;
    for i in 0..10 {
        let (parts, _) = get(&gw.url(&format!("/api/{i}"))).await;
        assert_eq!(parts.status, StatusCode::OK);
    }
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        1,
        "one pooled connection"
    );
    assert_eq!(up.closed_by_gateway.load(Ordering::SeqCst), 0);
}

/// An upstream that silently closes every connection after one answer, at once or while the
/// connection waits in the pool: the pool must notice (or, racing with the close, send the
/// request again) rather than answer 502.
#[tokio::test]
async fn an_upstream_closing_idle_connections_costs_no_request() {
    for (linger, pause) in [
        (Duration::ZERO, Duration::ZERO),
        (Duration::from_millis(30), Duration::from_millis(100)),
    ] {
        upstream_closing_after_one_answer(linger, pause).await;
    }
}

async fn upstream_closing_after_one_answer(linger: Duration, pause: Duration) {
    let up = RawUpstream::start(1, linger).await;
    let gw = TestGateway::start(&config(up.addr, "")).await;
    let client = h1_client();
    for i in 0..10 {
        tokio::time::sleep(pause).await;
        let (parts, body) = send(
            &client,
            Request::get(gw.url(&format!("/api/{i}")))
                .body(empty())
                .expect("request"),
        )
        .await;
        assert_eq!(parts.status, StatusCode::OK, "request {i}: {body:?}");
        assert_eq!(&body[..], b"ok");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn max_idle_per_endpoint_caps_the_connections_kept() {
    let gate = Gate::new();
    let backend = Backend::held(gate.clone(), "ok").await;
    let gw = TestGateway::start(&config(backend.addr, "    max_idle_per_endpoint: 1")).await;
    // Three requests at once need three connections; only one may stay afterwards.
    let url = gw.url("/api/x");
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get(&url).await })
        })
        .collect();
    backend.wait_hits(3).await;
    gate.open();
    for t in tasks {
        assert_eq!(t.await.unwrap().0.status, StatusCode::OK);
    }
    assert_eq!(backend.connections.load(Ordering::SeqCst), 3);
    // Three more, one after another: the one kept connection serves them all.
    for _ in 0..3 {
        assert_eq!(get(&url).await.0.status, StatusCode::OK);
    }
    assert_eq!(backend.connections.load(Ordering::SeqCst), 3);
}

/// A client that leaves in the middle of a response leaves the rest of that body on the
/// upstream connection; the connection must be closed, never handed to the next request.
#[tokio::test]
async fn a_response_abandoned_by_its_client_does_not_leak_into_the_next() {
    let backend = Backend::start(|req: Request<hyper::body::Incoming>| async move {
        if req.uri().path() == "/api/slow" {
            let (tx, body) = channel_body();
            tokio::spawn(async move {
                for _ in 0..50 {
                    if tx.send(Bytes::from_static(b"LEFTOVER")).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            http::Response::new(body)
        } else {
            http::Response::new(full("fresh"))
        }
    })
    .await;
    let gw = TestGateway::start(&config(backend.addr, "")).await;
    let client = h1_client();
    let resp = client
        .request(Request::get(gw.url("/api/slow")).body(empty()).unwrap())
        .await
        .expect("response head");
    let mut body = resp.into_body();
    let first = body.frame().await.expect("a frame").expect("data");
    assert_eq!(first.data_ref().map(|d| &d[..]), Some(&b"LEFTOVER"[..]));
    drop(body);
    for _ in 0..5 {
        let (parts, body) = get(&gw.url("/api/fast")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(
            &body[..],
            b"fresh",
            "the abandoned body leaked into another response"
        );
    }
}

/// The pool reads nothing it should not: a raw check that the upstream got origin-form
/// targets and exactly one Host.
#[tokio::test]
async fn upstream_requests_use_origin_form_targets() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let head = read_request_head(&mut s, WAIT).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await;
        let mut rest = [0u8; 1];
        let _ = tokio::time::timeout(Duration::from_millis(100), s.read(&mut rest)).await;
        String::from_utf8_lossy(&head).into_owned()
    });
    let gw = TestGateway::start(&config(addr, "")).await;
    let (parts, _) = get(&gw.url("/api/a/b?q=1")).await;
    assert_eq!(parts.status, StatusCode::OK);
    let head = seen.await.unwrap();
    assert!(head.starts_with("GET /api/a/b?q=1 HTTP/1.1\r\n"), "{head}");
    assert_eq!(
        head.to_ascii_lowercase().matches("\r\nhost: ").count(),
        1,
        "{head}"
    );
}

/// The fields the gateway sets reach an HTTP/1.1 upstream exactly once each, in place of what
/// the client sent under their names, from an HTTP/1.1 client and from an HTTP/2 one (whose
/// host is its `:authority`); `Host` is written first.
#[tokio::test]
async fn gateway_set_fields_reach_the_upstream_once_each() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, mut heads) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    let head = read_request_head(&mut s, WAIT).await;
                    if head.is_empty() {
                        return;
                    }
                    let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let gw = TestGateway::start(&config(addr, "")).await;
    let count = |head: &str, name: &str| {
        head.to_ascii_lowercase()
            .matches(&format!("\r\n{name}: "))
            .count()
    };
    let value = |head: &str, name: &str| {
        head.split("\r\n")
            .find_map(|l| {
                let (n, v) = l.split_once(": ")?;
                n.eq_ignore_ascii_case(name).then(|| v.to_string())
            })
            .unwrap_or_default()
    };
    let each_once = |head: &str, names: &[&str]| {
        for name in names {
            assert_eq!(count(head, name), 1, "{name} in {head}");
        }
    };
    let gateway_set = [
        "host",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "te",
    ];

    // HTTP/1.1, with forged forwarding fields and an id of its own.
    let answer = raw(
        gw.addr(),
        b"GET /api/one HTTP/1.1\r\nHost: shop.example\r\nx-request-id: trace-7\r\n\
          X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\nTE: trailers\r\n\
          Accept: */*\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    let head = heads.recv().await.expect("an upstream request");
    each_once(&head, &gateway_set);
    assert!(
        head.starts_with("GET /api/one HTTP/1.1\r\nhost: "),
        "{head}"
    );
    assert_eq!(value(&head, "host"), addr.to_string(), "{head}");
    assert_eq!(value(&head, "x-request-id"), "trace-7");
    assert_eq!(value(&head, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(value(&head, "x-forwarded-host"), "shop.example");
    assert_eq!(value(&head, "te"), "trailers");
    assert_eq!(
        value(&head, "forwarded"),
        "for=127.0.0.1;proto=http;host=shop.example"
    );
    assert_eq!(count(&head, "accept"), 1, "{head}");

    // HTTP/2: no Host field from the client; the gateway's id.
    let req = Request::get(gw.url("/api/two"))
        .body(empty())
        .expect("request");
    let (parts, _) = send(&h2_client(), req).await;
    assert_eq!(parts.status, StatusCode::OK);
    let head = heads.recv().await.expect("an upstream request");
    each_once(&head, &gateway_set[..6]);
    assert_eq!(value(&head, "x-request-id"), parts.headers["x-request-id"]);
    assert_eq!(value(&head, "x-forwarded-host"), gw.addr().to_string());

    // The forwarding fields are made once per connection and host: a second host on the same
    // connection gets its own.
    let answer = raw(
        gw.addr(),
        b"GET /api/a HTTP/1.1\r\nHost: a.example\r\n\r\n\
          GET /api/b HTTP/1.1\r\nHost: b.example:8080\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&answer), [200, 200], "{answer}");
    for (host, forwarded) in [
        ("a.example", "for=127.0.0.1;proto=http;host=a.example"),
        (
            "b.example:8080",
            "for=127.0.0.1;proto=http;host=\"b.example:8080\"",
        ),
    ] {
        let head = heads.recv().await.expect("an upstream request");
        assert_eq!(value(&head, "x-forwarded-host"), host, "{head}");
        assert_eq!(value(&head, "forwarded"), forwarded, "{head}");
        assert_eq!(count(&head, "x-forwarded-for"), 1, "{head}");
    }

    // From a trusted proxy, its lists are extended in one line each and its own proto kept.
    let trusted = format!(
        "server: {{ trusted_proxies: [127.0.0.1] }}\n{}",
        config(addr, "")
    );
    let gw = TestGateway::start(&trusted).await;
    let answer = raw(
        gw.addr(),
        b"GET /api/t HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 203.0.113.9\r\n\
          X-Forwarded-Proto: https\r\nForwarded: for=203.0.113.9\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&answer), [200], "{answer}");
    let head = heads.recv().await.expect("an upstream request");
    each_once(&head, &gateway_set[..6]);
    assert_eq!(value(&head, "x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    assert_eq!(value(&head, "x-forwarded-proto"), "https");
    assert_eq!(value(&head, "x-forwarded-host"), "shop.example");
    assert_eq!(
        value(&head, "forwarded"),
        "for=203.0.113.9, for=127.0.0.1;proto=http;host=shop.example"
    );
}
