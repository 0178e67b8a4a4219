//! The admin listener, on its own address: health, readiness with the running revision, the
//! running config, and reload through the API, which refuses a bad file with located errors.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, StatusCode};

use crate::harness::*;

fn config(public: SocketAddr, admin: SocketAddr, hello: &str) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "{public}" }}
admin: {{ address: "{admin}" }}
services: []
routes:
  - name: hello
    match: {{ methods: [GET], path: /hello }}
    respond: {{ body: "{hello}" }}
"#
    )
}

/// Starts the binary (file watching off, so that only the API reloads) and waits for the admin
/// listener, which is bound after the data-plane ones.
async fn start(hello: &str) -> (BinaryGateway, SocketAddr, SocketAddr) {
    let (public, admin) = (free_port(), free_port());
    let gw = BinaryGateway::start_with(&config(public, admin, hello), admin, &["--no-watch"]).await;
    (gw, public, admin)
}

async fn json(url: String) -> (StatusCode, serde_json::Value) {
    let (parts, body) = get(&url).await;
    let v =
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body:?}"));
    (parts.status, v)
}

async fn post_reload(admin: SocketAddr) -> (http::response::Parts, serde_json::Value) {
    let req = Request::post(format!("http://{admin}/admin/reload"))
        .body(empty())
        .expect("request");
    let (parts, body) = send(&h1_client(), req).await;
    let v = serde_json::from_slice(&body).expect("reload answers JSON");
    (parts, v)
}

#[tokio::test]
async fn health_readiness_and_the_running_config_are_on_the_admin_listener_only() {
    let (_gw, public, admin) = start("hi").await;

    let (status, v) = json(format!("http://{admin}/healthz")).await;
    assert_eq!((status, &v["status"]), (StatusCode::OK, &"ok".into()));

    let (status, v) = json(format!("http://{admin}/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "ready");
    assert_eq!(v["revision"], 1);

    let (status, v) = json(format!("http://{admin}/config")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["revision"], 1);
    let c = &v["config"];
    assert_eq!(c["listeners"][0]["address"], public.to_string());
    assert_eq!(c["admin"]["address"], admin.to_string());
    assert_eq!(c["routes"][0]["name"], "hello");
    assert_eq!(c["routes"][0]["respond"]["body"], "hi");
    assert_eq!(c["server"]["shutdown_timeout"], "30s", "defaults are shown");

    // The data plane knows nothing of the admin API.
    for path in ["/healthz", "/readyz", "/config"] {
        let (parts, body) = get(&format!("http://{public}{path}")).await;
        assert_eq!(parts.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            problem(&parts, &body)["type"],
            "urn:banyan:problem:no-route"
        );
    }
    let (parts, body) = get(&format!("http://{public}/hello")).await;
    assert_eq!((parts.status, &body[..]), (StatusCode::OK, &b"hi"[..]));
}

#[tokio::test]
async fn post_admin_reload_applies_the_file_and_refuses_a_bad_one_with_located_errors() {
    let (gw, public, admin) = start("v1").await;
    let hello = format!("http://{public}/hello");

    std::fs::write(&gw.config_path, config(public, admin, "v2")).expect("write");
    let (parts, v) = post_reload(admin).await;
    assert_eq!(parts.status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "reloaded");
    assert_eq!(v["revision"], 2);
    let (_, body) = get(&hello).await;
    assert_eq!(
        &body[..],
        b"v2",
        "the reload is in effect when the API answers"
    );

    let bad = format!(
        r#"listeners:
  - {{ name: public, address: "{public}" }}
admin: {{ address: "{admin}" }}
services: []
routes:
  - name: hello
    match: {{ methods: [GET], path: /hello }}
    respond: {{ body: "v3" }}
    timeout: 3 fortnights
  - name: elsewhere
    match: {{ path: /elsewhere }}
    service: nowhere
    retries: 3
"#
    );
    std::fs::write(&gw.config_path, bad).expect("write");
    let (parts, v) = post_reload(admin).await;
    assert_eq!(parts.status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        parts.headers["content-type"], "application/problem+json",
        "{v}"
    );
    assert_eq!(v["type"], "urn:banyan:problem:invalid-config");
    assert_eq!(v["status"], 400);
    let errors = v["errors"].as_array().expect("an `errors` array");
    let mut located: Vec<(String, u64)> = Vec::new();
    for e in errors {
        let path = e["path"].as_str().expect("path").to_string();
        let (line, column) = (e["line"].as_u64(), e["column"].as_u64());
        assert!(line.is_some_and(|l| l > 0), "no line: {e}");
        assert!(column.is_some_and(|c| c > 0), "no column: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        located.push((path, line.unwrap_or(0)));
    }
    for want in [
        ("routes[0].timeout".to_string(), 9),
        ("routes[1].service".to_string(), 12),
        ("routes[1].retries".to_string(), 13),
    ] {
        assert!(located.contains(&want), "{want:?} missing from {v}");
    }

    let (_, body) = get(&hello).await;
    assert_eq!(&body[..], b"v2", "the running config keeps serving");
    let (_, v) = json(format!("http://{admin}/readyz")).await;
    assert_eq!(v["revision"], 2);
}

#[tokio::test]
async fn readiness_turns_503_while_draining() {
    let gate = Gate::new();
    let backend = Backend::held(gate.clone(), "done").await;
    let (public, admin) = (free_port(), free_port());
    let yaml = format!(
        "listeners:\n  - {{ name: public, address: \"{public}\" }}\nadmin: {{ address: \"{admin}\" }}\nservices:\n  - name: slow\n    endpoints: [{{ url: \"http://{}\" }}]\nroutes:\n  - name: all\n    match: {{ path: \"/{{*rest}}\" }}\n    service: slow\n",
        backend.addr
    );
    let mut gw = BinaryGateway::start_with(&yaml, admin, &["--no-watch"]).await;
    let url = format!("http://{public}/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    backend.wait_hits(1).await;

    gw.signal("TERM");
    let mut readiness = None;
    for _ in 0..200 {
        let (status, v) = json(format!("http://{admin}/readyz")).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            readiness = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let v = readiness.expect("/readyz turns 503 while draining");
    assert_eq!(v["status"], "draining");

    gate.open();
    let (parts, _) = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the request finishes")
        .expect("task");
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).await, Some(0));
}

/// A route that matches on a credential (a bearer token, an API key in the query) does not put
/// that credential in `/config`: such matcher values are shown as `<redacted>`, others as
/// written.
#[tokio::test]
async fn the_running_config_hides_matcher_values_that_look_like_credentials() {
    let (public, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"listeners:
  - {{ name: public, address: "{public}" }}
admin: {{ address: "{admin}" }}
services: []
routes:
  - name: partners
    match:
      path: /partners
      headers:
        - {{ name: authorization, exact: "Bearer s3cret-partner-token" }}
        - {{ name: x-region, exact: eu }}
      query:
        - {{ name: api_key, regex: "k-s3cret-[0-9]+" }}
    respond: {{ body: partners }}
"#
    );
    let _gw = BinaryGateway::start_with(&yaml, admin, &["--no-watch"]).await;
    let (parts, body) = get(&format!("http://{admin}/config")).await;
    assert_eq!(parts.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("s3cret"), "a credential in /config: {text}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let m = &v["config"]["routes"][0]["match"];
    assert_eq!(m["headers"][0]["exact"], "<redacted>");
    assert_eq!(m["headers"][1]["exact"], "eu", "not a credential: shown");
    assert_eq!(m["query"][0]["regex"], "<redacted>");
    // The route itself still matches on the real values.
    let req = Request::get(format!("http://{public}/partners?api_key=k-s3cret-42"))
        .header("authorization", "Bearer s3cret-partner-token")
        .header("x-region", "eu")
        .body(empty())
        .expect("request");
    let (parts, body) = send(&h1_client(), req).await;
    assert_eq!(
        (parts.status, &body[..]),
        (StatusCode::OK, &b"partners"[..])
    );
}
