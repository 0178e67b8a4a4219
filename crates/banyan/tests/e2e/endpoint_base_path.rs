//! An endpoint URL with a path (`http://HOST:PORT/base`) puts that base before every forwarded
//! path, rewritten or not, over either upstream protocol.

use http::{Request, StatusCode};

use crate::harness::*;

/// Services whose endpoints have a base path (`/base`, and `/base/v1/` with a trailing slash),
/// spoken to over `protocol`, and routes that forward unchanged, rewrite with a template, and
/// strip a prefix.
fn config(backend: std::net::SocketAddr, protocol: &str) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: based
    protocol: {protocol}
    endpoints: [{{ url: "http://{backend}/base" }}]
  - name: slashed
    protocol: {protocol}
    endpoints: [{{ url: "http://{backend}/base/v1/" }}]
routes:
  - name: invoice
    match: {{ path: "/v2/invoices/{{id}}" }}
    service: based
    rewrite: {{ path: "/invoices/{{id}}" }}
  - name: products
    match: {{ path: "/v2/products/{{*rest}}" }}
    service: based
    rewrite: {{ strip_prefix: /v2 }}
  - name: slashed
    match: {{ path: "/slashed/{{*rest}}" }}
    service: slashed
  - name: all
    match: {{ path: "/{{*rest}}" }}
    service: based
"#
    )
}

/// What a client asks for, and the target the upstream must see: the base path, then the path
/// (rewritten where the route says so), then the query exactly as sent.
const CASES: &[(&str, &str)] = &[
    ("/items/42", "/base/items/42"),
    (
        "/items/42?color=red&size=",
        "/base/items/42?color=red&size=",
    ),
    ("/", "/base/"),
    ("/v2/invoices/7?format=pdf", "/base/invoices/7?format=pdf"),
    ("/v2/products/shoes/42", "/base/products/shoes/42"),
    ("/slashed/a/b", "/base/v1/slashed/a/b"),
];

/// A service behind a path prefix (`http://10.0.3.30:9000/api`) gets every request under that
/// prefix, whatever route sent it and whichever protocol it is spoken to in.
#[tokio::test]
async fn an_endpoint_base_path_comes_before_every_forwarded_path() {
    // Answers with the path and query it was asked for: origin form over HTTP/1.1, the
    // absolute form's path over HTTP/2.
    let backend = Backend::start(|req: Request<hyper::body::Incoming>| async move {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        http::Response::new(full(target))
    })
    .await;
    for protocol in ["http1", "http2"] {
        let gw = TestGateway::start(&config(backend.addr, protocol)).await;
        for (asked, want) in CASES {
            let (parts, body) = get(&gw.url(asked)).await;
            assert_eq!(parts.status, StatusCode::OK, "{protocol} {asked}: {body:?}");
            assert_eq!(
                String::from_utf8_lossy(&body),
                *want,
                "{protocol}: {asked} reached the upstream as the wrong target"
            );
        }
    }
    assert_eq!(backend.hits(), 2 * CASES.len());
}
