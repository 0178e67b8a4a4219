//! Plain proxying over HTTP/1.1 and HTTP/2: routing, rewrites, the upstream Host, request ids,
//! and the problem documents the gateway answers with.

use http::{Method, Request, StatusCode, Version};

use crate::harness::*;

fn config(backend: std::net::SocketAddr) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: billing
    endpoints: [{{ url: "http://{backend}" }}]
routes:
  - name: invoice
    match: {{ host: api.example.com, methods: [GET], path: "/v2/invoices/{{id}}" }}
    service: billing
    rewrite: {{ path: "/invoices/{{id}}" }}
  - name: invoice-any-host
    match: {{ methods: [GET], path: "/v2/invoices/{{id}}" }}
    service: billing
    rewrite: {{ path: "/other/{{id}}", host: client }}
  - name: static
    match: {{ path: "/static/{{*rest}}" }}
    service: billing
    rewrite: {{ strip_prefix: /static }}
  - name: hello
    match: {{ path: /hello }}
    respond: {{ status: 201, body: "hi", content_type: text/plain }}
"#
    )
}

#[tokio::test]
async fn routes_rewrites_and_sets_upstream_host_over_http1() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&config(backend.addr)).await;
    let req = Request::get(gw.url("/v2/invoices/42?x=1"))
        .header("host", "API.example.com")
        .body(empty())
        .unwrap();
    let (parts, _) = send(&h1_client(), req).await;
    assert_eq!(parts.status, StatusCode::OK);
    let seen = backend.last().expect("backend hit");
    assert_eq!(seen.uri, "/invoices/42?x=1");
    assert_eq!(
        seen.headers["host"],
        backend.addr.to_string().as_str(),
        "upstream Host by default"
    );
    assert!(seen.headers.contains_key("x-request-id"));
    assert_eq!(seen.headers["x-forwarded-host"], "API.example.com");
    assert_eq!(parts.headers["x-request-id"], seen.headers["x-request-id"]);
}

#[tokio::test]
async fn exact_host_beats_any_host_and_client_host_is_kept_when_asked() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&config(backend.addr)).await;
    let req = Request::get(gw.url("/v2/invoices/7"))
        .header("host", "other.example.org")
        .body(empty())
        .unwrap();
    let (parts, _) = send(&h1_client(), req).await;
    assert_eq!(parts.status, StatusCode::OK);
    let seen = backend.last().unwrap();
    assert_eq!(seen.uri, "/other/7");
    assert_eq!(seen.headers["host"], "other.example.org");
}

#[tokio::test]
async fn http2_clients_are_served_on_the_same_port() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&config(backend.addr)).await;
    let req = Request::get(format!(
        "http://api.example.com:{}/static/css/site.css",
        gw.addr().port()
    ))
    .version(Version::HTTP_2)
    .body(empty())
    .unwrap();
    // Connect to the gateway's address while naming another authority.
    let client = h2_client();
    let req = {
        let (mut p, b) = req.into_parts();
        p.uri = gw.url("/static/css/site.css").parse().unwrap();
        Request::from_parts(p, b)
    };
    let (parts, _) = send(&client, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert_eq!(backend.last().unwrap().uri, "/css/site.css");
    assert_eq!(
        backend.last().unwrap().version,
        Version::HTTP_11,
        "upstream speaks HTTP/1.1 by default"
    );
}

#[tokio::test]
async fn direct_responses_need_no_upstream() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&config(backend.addr)).await;
    let (parts, body) = get(&gw.url("/hello")).await;
    assert_eq!(parts.status, StatusCode::CREATED);
    assert_eq!(&body[..], b"hi");
    // A HEAD gets the GET's head, its length included, and no body.
    let text = raw(
        gw.addr(),
        b"HEAD /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(5),
    )
    .await;
    let head = text.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 201 "), "{text}");
    assert!(head.contains("\r\ncontent-length: 2\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "a body after a HEAD: {text}");
    assert_eq!(backend.hits(), 0);
}

#[tokio::test]
async fn unknown_paths_get_a_404_problem_and_wrong_methods_a_405_with_allow() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&config(backend.addr)).await;
    let (parts, body) = get(&gw.url("/nothing/here")).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    let p = problem(&parts, &body);
    assert_eq!(p["type"], "urn:banyan:problem:no-route");
    assert_eq!(
        p["request_id"],
        parts.headers["x-request-id"].to_str().unwrap()
    );

    let req = Request::builder()
        .method(Method::DELETE)
        .uri(gw.url("/v2/invoices/1"))
        .body(empty())
        .unwrap();
    let (parts, body) = send(&h1_client(), req).await;
    assert_eq!(parts.status, StatusCode::METHOD_NOT_ALLOWED);
    problem(&parts, &body);
    assert_eq!(parts.headers["allow"], "GET, HEAD");
    assert_eq!(backend.hits(), 0, "nothing reached the backend");
}

#[tokio::test]
async fn a_well_formed_request_id_is_kept_and_a_bad_one_replaced() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&config(backend.addr)).await;
    let req = Request::get(gw.url("/static/a"))
        .header("x-request-id", "trace-123")
        .body(empty())
        .unwrap();
    let (parts, _) = send(&h1_client(), req).await;
    assert_eq!(parts.headers["x-request-id"], "trace-123");
    assert_eq!(backend.last().unwrap().headers["x-request-id"], "trace-123");

    let req = Request::get(gw.url("/static/a"))
        .header("x-request-id", "no spaces allowed")
        .body(empty())
        .unwrap();
    let (parts, _) = send(&h1_client(), req).await;
    let id = parts.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(backend.last().unwrap().headers["x-request-id"], id);
}

#[tokio::test]
async fn upstream_connections_are_reused_and_survive_a_reload() {
    let backend = Backend::echo().await;
    let yaml = config(backend.addr);
    let gw = TestGateway::start(&yaml).await;
    let client = h1_client();
    for _ in 0..5 {
        let (parts, _) = send(
            &client,
            Request::get(gw.url("/static/x")).body(empty()).unwrap(),
        )
        .await;
        assert_eq!(parts.status, StatusCode::OK);
    }
    assert_eq!(
        backend
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one pooled upstream connection"
    );

    // A reload that changes a route but not the service keeps the warm pool.
    let changed = yaml.replace("body: \"hi\"", "body: \"hello\"");
    gw.reload(&changed).await.expect("reload");
    let (_, body) = get(&gw.url("/hello")).await;
    assert_eq!(&body[..], b"hello", "the new config serves");
    for _ in 0..5 {
        send(
            &client,
            Request::get(gw.url("/static/x")).body(empty()).unwrap(),
        )
        .await;
    }
    assert_eq!(
        backend
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the pool survived the reload"
    );
}

#[tokio::test]
async fn routes_match_on_sanitized_headers_so_untrusted_forwarding_claims_do_not_count() {
    let secure = Backend::echo().await;
    let plain = Backend::echo().await;
    let yaml = format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - {{ name: secure, endpoints: [{{ url: "http://{}" }}] }}
  - {{ name: plain, endpoints: [{{ url: "http://{}" }}] }}
routes:
  - name: https-only
    match: {{ path: /account, headers: [{{ name: x-forwarded-proto, exact: https }}] }}
    service: secure
  - name: fallback
    match: {{ path: /account }}
    service: plain
"#,
        secure.addr, plain.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let req = Request::get(gw.url("/account"))
        .header("x-forwarded-proto", "https")
        .body(empty())
        .unwrap();
    let (parts, _) = send(&h1_client(), req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        secure.hits(),
        0,
        "an untrusted client's X-Forwarded-Proto must not select a route"
    );
    assert_eq!(plain.hits(), 1);
    assert_eq!(plain.last().unwrap().headers["x-forwarded-proto"], "http");
}
