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
