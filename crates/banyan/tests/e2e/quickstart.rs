//! The README's quickstart works as written: the real binary on `examples/quickstart.yaml`
//! (its ports moved to free ones) answers the README's first curl examples as the README says.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;

use crate::harness::*;

/// The quickstart config with its public, monolith and admin ports replaced by free ones.
fn quickstart_on(public: SocketAddr, monolith: SocketAddr, admin: SocketAddr) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.yaml");
    let yaml = std::fs::read_to_string(&path).expect("read examples/quickstart.yaml");
    for port in ["127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:9901"] {
        assert!(
            yaml.contains(port),
            "the quickstart no longer uses {port}:\n{yaml}"
        );
    }
    let moved = yaml
        .replace("127.0.0.1:8080", &public.to_string())
        .replace("127.0.0.1:8081", &monolith.to_string())
        .replace("127.0.0.1:9901", &admin.to_string());
    assert!(!moved.contains(":8080") && !moved.contains(":8081") && !moved.contains(":9901"));
    moved
}

/// GET `url` with a bound on the wait: status, content type and body.
async fn curl(url: &str) -> (http::response::Parts, String) {
    let (parts, body) = tokio::time::timeout(Duration::from_secs(10), get(url))
        .await
        .unwrap_or_else(|_| panic!("{url}: no answer in time"));
    (parts, String::from_utf8_lossy(&body).into_owned())
}

/// Someone trying the README's curl lines against the quickstart gets what the README
/// describes: `/hello` from the gateway itself, `/v2/invoices/42` sent to the moved route's
/// service rewritten to `/invoices/42`, anything else to the monolith, an escaping path
/// refused with a 400 problem, and readiness on the admin listener.
#[tokio::test]
async fn the_readme_quickstart_answers_as_the_readme_says() {
    let (public, monolith, admin) = (free_port(), free_port(), free_port());
    let yaml = quickstart_on(public, monolith, admin);
    // The admin listener is bound last: once it answers, every listener does.
    let gw = BinaryGateway::start_with(&yaml, admin, &["--no-watch"]).await;
    let base = format!("http://{public}");
    let served_by_monolith = serde_json::json!({ "served_by": "monolith" });

    // curl -i localhost:8080/hello: answered by the gateway itself.
    let (parts, body) = curl(&format!("{base}/hello")).await;
    assert_eq!(parts.status, StatusCode::OK, "/hello: {body}");
    assert_eq!(body, "hello from banyan\n");
    assert!(parts.headers.contains_key("x-request-id"), "{parts:?}");

    // curl -i localhost:8080/v2/invoices/42: the moved route, to the monolith service.
    let (parts, body) = curl(&format!("{base}/v2/invoices/42")).await;
    assert_eq!(parts.status, StatusCode::OK, "/v2/invoices/42: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("the monolith's JSON");
    assert_eq!(v, served_by_monolith, "/v2/invoices/42");
    // The pretend monolith answers every path alike, so the rewrite is read from the same file
    // the gateway runs, as the README's reader would check it.
    let explain = std::process::Command::new(env!("CARGO_BIN_EXE_banyan"))
        .args(["routes", "explain", "-c"])
        .arg(&gw.config_path)
        .args(["GET", &format!("{base}/v2/invoices/42")])
        .output()
        .expect("run banyan routes explain");
    let text = String::from_utf8_lossy(&explain.stdout);
    assert_eq!(explain.status.code(), Some(0), "{text}");
    assert!(
        text.contains("→ route `invoice`") && text.contains("forwarded path: /invoices/42"),
        "/v2/invoices/42 is rewritten to /invoices/42:\n{text}"
    );

    // curl -i localhost:8080/anything/else: still the monolith.
    let (parts, body) = curl(&format!("{base}/anything/else")).await;
    assert_eq!(parts.status, StatusCode::OK, "/anything/else: {body}");
    assert_eq!(
        parts.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("the monolith's JSON");
    assert_eq!(v, served_by_monolith, "/anything/else");

    // curl -i localhost:8080/a/%2e%2e/admin: an escaping path, a 400 problem.
    let (parts, body) = curl(&format!("{base}/a/%2e%2e/admin")).await;
    assert_eq!(parts.status, StatusCode::BAD_REQUEST, "{body}");
    let p = problem(&parts, body.as_bytes());
    assert_eq!(p["type"], "urn:banyan:problem:bad-request");
    assert_eq!(p["detail"], "the path contains a `.` or `..` segment");

    // curl -i localhost:9901/readyz: the admin listener.
    let (parts, body) = curl(&format!("http://{admin}/readyz")).await;
    assert_eq!(parts.status, StatusCode::OK, "/readyz: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("readiness JSON");
    assert_eq!(v["status"], "ready", "{v}");
    assert_eq!(v["revision"], 1, "{v}");
}
