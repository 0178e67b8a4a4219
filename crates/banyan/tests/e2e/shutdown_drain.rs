//! Graceful shutdown: on SIGTERM or SIGINT the gateway stops accepting, lets the requests in
//! flight finish, and exits 0; a request that never finishes does not keep it alive past
//! `server.shutdown_timeout`.

use std::time::Duration;

use http::{Request, StatusCode, Version};

use crate::harness::*;

/// A gateway config for the binary on `public`, proxying to `backend`.
fn binary_config(
    public: std::net::SocketAddr,
    backend: std::net::SocketAddr,
    extra: &str,
) -> String {
    proxy_config(&[backend], "")
        .replace("127.0.0.1:0", &public.to_string())
        .replace(
            "admin: { enabled: false }\n",
            &format!("admin: {{ enabled: false }}\n{extra}"),
        )
}

async fn drains_in_flight_requests_on(signal: &str) {
    let gate = Gate::new();
    let backend = Backend::held(gate.clone(), "finished").await;
    let public = free_port();
    let mut gw = BinaryGateway::start(&binary_config(public, backend.addr, ""), public).await;
    let url = format!("http://{public}/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    backend.wait_hits(1).await;

    gw.signal(signal);
    assert!(
        refused_soon(public).await,
        "{signal}: the listener stays open"
    );
    assert!(
        tokio::net::TcpStream::connect(public).await.is_err(),
        "{signal}: a new connection was accepted while draining"
    );
    assert_eq!(
        gw.wait_exit(Duration::from_millis(200)).await,
        None,
        "{signal}: exited with a request in flight"
    );

    gate.open();
    let (parts, body) = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the in-flight request finishes")
        .expect("request task");
    assert_eq!(parts.status, StatusCode::OK, "{signal}");
    assert_eq!(&body[..], b"finished", "{signal}");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(10)).await,
        Some(0),
        "{signal}: exit code"
    );
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    drains_in_flight_requests_on("TERM").await;
}

#[tokio::test]
async fn sigint_lets_the_request_in_flight_finish_then_exits_0() {
    drains_in_flight_requests_on("INT").await;
}

#[tokio::test]
async fn a_request_that_never_ends_does_not_outlive_the_shutdown_timeout() {
    let gate = Gate::new();
    let backend = Backend::held(gate.clone(), "never").await;
    let public = free_port();
    let yaml = binary_config(public, backend.addr, "server: { shutdown_timeout: 1s }\n");
    assert!(yaml.contains("shutdown_timeout: 1s"), "{yaml}");
    let mut gw = BinaryGateway::start(&yaml, public).await;
    let client = h1_client();
    let req = Request::get(format!("http://{public}/forever"))
        .body(empty())
        .expect("request");
    let in_flight = tokio::spawn(async move { client.request(req).await.map(|r| r.status()) });
    backend.wait_hits(1).await;

    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(15)).await,
        Some(0),
        "the gateway exits once the shutdown timeout passes"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the client is not left hanging")
        .expect("request task");
    assert!(outcome.is_err(), "no answer was possible: {outcome:?}");
    gate.open();
}

#[tokio::test]
async fn in_process_shutdown_reports_whether_requests_finished() {
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let gate = Gate::new();
        let backend = Backend::held(gate.clone(), "done").await;
        let gw = TestGateway::start(&proxy_config(&[backend.addr], "")).await;
        let addr = gw.addr();
        let client = if version == Version::HTTP_2 {
            h2_client()
        } else {
            h1_client()
        };
        let req = Request::get(gw.url("/slow"))
            .version(version)
            .body(empty())
            .expect("request");
        let in_flight = tokio::spawn(async move { send(&client, req).await });
        backend.wait_hits(1).await;

        let drained = tokio::spawn(gw.shutdown(Duration::from_secs(10)));
        assert!(refused_soon(addr).await, "{version:?}: the listener closes");
        gate.open();
        let (parts, body) = tokio::time::timeout(Duration::from_secs(10), in_flight)
            .await
            .expect("the in-flight request finishes")
            .expect("request task");
        assert_eq!(parts.status, StatusCode::OK, "{version:?}");
        assert_eq!(&body[..], b"done");
        let clean = tokio::time::timeout(Duration::from_secs(15), drained)
            .await
            .expect("shutdown returns")
            .expect("shutdown task");
        assert!(clean, "{version:?}: every connection finished");
    }
}

#[tokio::test]
async fn in_process_shutdown_gives_up_at_its_deadline() {
    let gate = Gate::new();
    let backend = Backend::held(gate.clone(), "never").await;
    let gw = TestGateway::start(&proxy_config(&[backend.addr], "")).await;
    let url = gw.url("/forever");
    let client = h1_client();
    let in_flight = tokio::spawn(async move {
        let req = Request::get(url).body(empty()).expect("request");
        client.request(req).await.map(|r| r.status())
    });
    backend.wait_hits(1).await;
    let clean = tokio::time::timeout(
        Duration::from_secs(15),
        gw.shutdown(Duration::from_millis(300)),
    )
    .await
    .expect("shutdown returns at its deadline");
    assert!(!clean, "a request was still in flight");
    in_flight.abort();
    gate.open();
}
