//! What the client gets when the upstream cannot give an answer: a problem document with the
//! status and type that say why (502 unreachable or broken, 503 nothing to send to, 504 too
//! slow); and how requests are spread over endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::*;

async fn problem_for(gw: &TestGateway, path: &str) -> (StatusCode, String) {
    let (parts, body) = tokio::time::timeout(Duration::from_secs(20), get(&gw.url(path)))
        .await
        .expect("the gateway answers");
    let p = problem(&parts, &body);
    (
        parts.status,
        p["type"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_refused_connection_is_a_502() {
    // Bound, then released: nothing listens there.
    let nobody = free_port();
    let gw = TestGateway::start(&proxy_config(&[nobody], "")).await;
    assert_eq!(
        problem_for(&gw, "/x").await,
        (
            StatusCode::BAD_GATEWAY,
            "urn:banyan:problem:upstream-connect".into()
        )
    );
}

/// A backend that reads a request, answers half a status line, then closes: with a reset
/// (`reset`) or an orderly close.
async fn breaks_mid_headers(reset: bool) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
            if reset {
                // A zero linger turns the close into a RST; it never blocks, which is what the
                // deprecation warns about.
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
            }
            drop(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn an_upstream_that_breaks_off_mid_headers_is_a_502() {
    for reset in [true, false] {
        let (addr, task) = breaks_mid_headers(reset).await;
        let gw = TestGateway::start(&proxy_config(&[addr], "")).await;
        assert_eq!(
            problem_for(&gw, "/x").await,
            (
                StatusCode::BAD_GATEWAY,
                "urn:banyan:problem:upstream-reset".into()
            ),
            "reset: {reset}"
        );
        task.abort();
    }
}

#[tokio::test]
async fn a_service_without_endpoints_is_a_503() {
    let gw = TestGateway::start(&proxy_config(&[], "")).await;
    assert_eq!(
        problem_for(&gw, "/x").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:banyan:problem:no-endpoint".into()
        )
    );
}

#[tokio::test]
async fn an_upstream_slower_than_the_route_timeout_is_a_504() {
    let gate = Gate::new();
    let backend = Backend::held(gate.clone(), "too late").await;
    let gw = TestGateway::start(&proxy_config(&[backend.addr], "    timeout: 300ms\n")).await;
    assert_eq!(
        problem_for(&gw, "/x").await,
        (
            StatusCode::GATEWAY_TIMEOUT,
            "urn:banyan:problem:upstream-timeout".into()
        )
    );
    assert_eq!(backend.hits(), 1, "the request did reach the backend");
    gate.open();
}

#[tokio::test]
async fn weighted_round_robin_gives_each_endpoint_its_share() {
    let heavy = Backend::fixed("heavy").await;
    let light = Backend::fixed("light").await;
    let yaml = proxy_config(&[heavy.addr, light.addr], "").replace(
        &format!("{{ url: \"http://{}\" }}", heavy.addr),
        &format!("{{ url: \"http://{}\", weight: 2 }}", heavy.addr),
    );
    assert!(yaml.contains("weight: 2"), "{yaml}");
    let gw = TestGateway::start(&yaml).await;
    let client = h1_client();
    let mut answers = Vec::new();
    for _ in 0..30 {
        let req = http::Request::get(gw.url("/w")).body(empty()).expect("req");
        let (parts, body) = send(&client, req).await;
        assert_eq!(parts.status, StatusCode::OK);
        answers.push(String::from_utf8_lossy(&body).into_owned());
    }
    assert_eq!((heavy.hits(), light.hits()), (20, 10), "{answers:?}");
    // Smooth: the light endpoint is never starved for long stretches.
    assert!(
        answers.windows(3).all(|w| w.iter().any(|a| a == "light")),
        "{answers:?}"
    );
}

/// One keep-alive connection takes turns on routes with different timeouts, and each request
/// gets its own route's deadline: the connection's timer moves earlier as well as later, and
/// runs again after it fired.
#[tokio::test]
async fn each_request_on_a_connection_gets_its_own_routes_deadline() {
    let gate = Gate::new();
    let slow = Backend::held(gate.clone(), "too late").await;
    let fast = Backend::fixed("quick").await;
    let yaml = format!(
        "listeners:\n  - {{ name: public, address: \"127.0.0.1:0\" }}\nadmin: {{ enabled: false }}\n\
         services:\n\
         \x20 - {{ name: slow, endpoints: [{{ url: \"http://{}\" }}] }}\n\
         \x20 - {{ name: fast, endpoints: [{{ url: \"http://{}\" }}] }}\n\
         routes:\n\
         \x20 - {{ name: slow, match: {{ path: /slow }}, service: slow, timeout: 300ms }}\n\
         \x20 - {{ name: fast, match: {{ path: /fast }}, service: fast, timeout: 60s }}\n",
        slow.addr, fast.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("connect");
    for (i, (path, want)) in [
        ("/fast", 200),
        ("/slow", 504),
        ("/fast", 200),
        ("/slow", 504),
        ("/slow", 504),
        ("/fast", 200),
    ]
    .into_iter()
    .enumerate()
    {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .expect("write");
        // Far less than the 60 s the connection's last request had: only the route's own
        // 300 ms lets the 504 come within it.
        let got = crate::wire::responses(
            &crate::wire::read_response(&mut s, Duration::from_secs(10)).await,
        );
        let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [want], "request {i}, {path}");
    }
    assert_eq!(slow.hits(), 3);

    // The streams of one HTTP/2 connection reuse each other's timers, one at a time or side by
    // side: each still gets its own route's deadline.
    let client = h2_client();
    let get = |path: &str| {
        let req = Request::get(gw.url(path)).body(empty()).expect("request");
        let client = client.clone();
        async move {
            let (parts, _) = tokio::time::timeout(Duration::from_secs(10), send(&client, req))
                .await
                .expect("an answer well before the 60 s route's deadline");
            assert_eq!(parts.version, http::Version::HTTP_2);
            parts.status.as_u16()
        }
    };
    for (i, (path, want)) in [
        ("/fast", 200),
        ("/slow", 504),
        ("/fast", 200),
        ("/slow", 504),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(get(path).await, want, "stream {i}, {path}");
    }
    let (a, b, c) = tokio::join!(get("/slow"), get("/fast"), get("/slow"));
    assert_eq!([a, b, c], [504, 200, 504]);
    assert_eq!(slow.hits(), 7);
    gate.open();
}

/// A loopback address whose connects hang: a listener with the smallest accept queue that never
/// accepts, its queue filled by connections of our own. Linux drops the SYNs of further
/// connects while the queue is full, as a host behind a black-holing firewall would. Keep the
/// listener and the connections alive for as long as the address must hang.
async fn connects_hang() -> (
    SocketAddr,
    tokio::net::TcpListener,
    Vec<tokio::net::TcpStream>,
) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            Ok(Err(e)) => panic!("a connect to the unaccepting listener failed: {e}"),
            // This one hung: the queue is full.
            Err(_) => return (addr, listener, fillers),
        }
    }
    panic!(
        "the accept queue never filled after {} connects",
        fillers.len()
    );
}

/// An endpoint that never completes the TCP handshake is given up after the service's connect
/// timeout: the client gets a 504 `upstream-connect-timeout`, not the `upstream-timeout` that
/// the much longer route timeout would give.
#[tokio::test]
async fn an_endpoint_that_never_completes_the_handshake_is_a_504_after_the_connect_timeout() {
    let (hanging, _listener, _fillers) = connects_hang().await;
    let yaml = format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: blackhole
    endpoints: [{{ url: "http://{hanging}" }}]
    timeouts: {{ connect: 300ms }}
routes:
  - name: all
    match: {{ path: "/{{*rest}}" }}
    service: blackhole
    timeout: 8s
"#
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, kind) = problem_for(&gw, "/x").await;
    assert_eq!(
        (status, kind.as_str()),
        (
            StatusCode::GATEWAY_TIMEOUT,
            "urn:banyan:problem:upstream-connect-timeout"
        )
    );
}
