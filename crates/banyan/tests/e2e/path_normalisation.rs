//! Path normalisation: every spelling that different backends could read differently (dot
//! segments, encoded separators, backslashes, double encoding, control characters) is a 400
//! problem that reaches no backend; everything else is decoded once, matched on whole
//! segments, and forwarded exactly as it was routed.

use std::time::Duration;

use http::Request;

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(5);

/// `/api/...` to `api`, `/admin/...` to `admin`, everything else to `other`.
fn config(api: &Backend, admin: &Backend, other: &Backend) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: api
    endpoints: [{{ url: "http://{}" }}]
  - name: admin
    endpoints: [{{ url: "http://{}" }}]
  - name: other
    endpoints: [{{ url: "http://{}" }}]
routes:
  - name: api
    match: {{ path: "/api/{{*rest}}" }}
    service: api
  - name: admin
    match: {{ path: "/admin/{{*rest}}" }}
    service: admin
  - name: other
    match: {{ path: "/{{*rest}}" }}
    service: other
"#,
        api.addr, admin.addr, other.addr
    )
}

struct Setup {
    api: Backend,
    admin: Backend,
    other: Backend,
    gw: TestGateway,
}

async fn setup() -> Setup {
    let api = Backend::echo().await;
    let admin = Backend::echo().await;
    let other = Backend::echo().await;
    let gw = TestGateway::start(&config(&api, &admin, &other)).await;
    Setup {
        api,
        admin,
        other,
        gw,
    }
}

impl Setup {
    fn hits(&self) -> usize {
        self.api.hits() + self.admin.hits() + self.other.hits()
    }

    /// Sends `target` raw on its own connection; the one response.
    async fn send(&self, target: &str) -> RawResponse {
        let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let text = raw(self.gw.addr(), req.as_bytes(), WAIT).await;
        let mut r = responses(text.as_bytes());
        assert_eq!(r.len(), 1, "{target:?} got {text:?}");
        r.remove(0)
    }

    /// Asserts each target is a 400 problem and that no backend saw any of them.
    async fn refused(&self, targets: &[&str]) {
        let before = self.hits();
        for t in targets {
            let r = self.send(t).await;
            assert_eq!(r.status, 400, "{t:?}: {r:?}");
            let p = r.problem();
            assert_eq!(p["type"], "urn:banyan:problem:bad-request", "{t:?}");
        }
        assert_eq!(self.hits(), before, "a refused path reached a backend");
    }

    /// Asserts `target` is served by `backend` and forwarded as `forwarded`.
    async fn forwarded(&self, target: &str, backend: &Backend, forwarded: &str) {
        let before = backend.hits();
        let r = self.send(target).await;
        assert_eq!(r.status, 200, "{target:?}: {r:?}");
        assert_eq!(backend.hits(), before + 1, "{target:?} went elsewhere");
        let seen = backend.last().expect("seen");
        assert_eq!(seen.uri, forwarded, "{target:?}");
    }
}

#[tokio::test]
async fn dot_segments_in_any_spelling_are_refused() {
    let s = setup().await;
    s.refused(&[
        "/api/../admin/users",
        "/api/%2e%2e/admin/users",
        "/api/%2E%2E/admin/users",
        "/api/.%2E/admin/users",
        "/api/%2e./admin/users",
        "/api/./admin",
        "/api/%2e/admin",
        "/api/..;/admin/users",
        "/api/..;x=1/admin/users",
        "/api/.;/admin",
        "/api/users/..",
        "/api/users/%2e%2e",
        "/..",
        "/../admin/users",
    ])
    .await;
}

#[tokio::test]
async fn encoded_separators_and_backslashes_are_refused() {
    let s = setup().await;
    s.refused(&[
        "/api/..%2fadmin/users",
        "/api/a%2fb",
        "/api/a%2Fb",
        "/api/..%5cadmin",
        "/api/a%5cb",
        "/api/a%5Cb",
        "/api/a\\b",
        "/api\\..\\admin",
    ])
    .await;
}

#[tokio::test]
async fn double_encoding_is_refused() {
    let s = setup().await;
    s.refused(&[
        "/api/%252e%252e/admin",
        "/api/%252E%252E/admin",
        "/api/a%252fb",
        "/api/a%255cb",
        "/api/a%2500",
        "/api/%25%32%65%25%32%65/admin",
    ])
    .await;
}

#[tokio::test]
async fn control_characters_and_broken_escapes_are_refused() {
    let s = setup().await;
    s.refused(&[
        "/api/a%00",
        "/api/a%00.json",
        "/api/a%0a",
        "/api/a%0d%0aSet-Cookie:x",
        "/api/a%09",
        "/api/a%1b[31m",
        "/api/a%7f",
        "/api/a%zz",
        "/api/a%4",
        "/api/a%",
    ])
    .await;
}

#[tokio::test]
async fn raw_bytes_outside_visible_ascii_are_refused() {
    // Refused by the HTTP parser before routing: a 400 problem, nothing forwarded.
    let s = setup().await;
    for target in [
        &b"/api/a\x00b"[..],
        b"/api/a\x7fb",
        b"/api/\xc3\xa9",
        b"/api/a\x1bb",
    ] {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        let text = raw(s.gw.addr(), &req, WAIT).await;
        let r = responses(text.as_bytes());
        assert_eq!(statuses(&text), [400], "{target:?}: {text}");
        r[0].problem();
    }
    assert_eq!(s.hits(), 0);
}

#[tokio::test]
async fn refused_paths_are_refused_over_http2_too() {
    let s = setup().await;
    for path in [
        "/api/%2e%2e/admin",
        "/api/a%2fb",
        "/api/..;/admin",
        "/api/a%00",
    ] {
        let req = Request::get(format!("http://x{path}"))
            .body(())
            .expect("request");
        let (status, body) = h2_request(s.gw.addr(), req, None).await;
        assert_eq!(status, 400, "{path}");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("problem");
        assert_eq!(v["type"], "urn:banyan:problem:bad-request", "{path}");
    }
    assert_eq!(s.hits(), 0);
}

#[tokio::test]
async fn merged_slashes_are_routed_and_forwarded_merged() {
    let s = setup().await;
    s.forwarded("/api//users///42", &s.api, "/api/users/42")
        .await;
    s.forwarded("/api/users//", &s.api, "/api/users/").await;
    // `//admin` is the admin route once merged, and is forwarded as such: never the api's.
    s.forwarded("//admin//users", &s.admin, "/admin/users")
        .await;
}

#[tokio::test]
async fn unreserved_escapes_are_decoded_once_and_forwarded_canonical() {
    let s = setup().await;
    s.forwarded("/api/%41bc%7e%2D%5f", &s.api, "/api/Abc~-_")
        .await;
    // A decoded name routes like the plain one: `%61dmin` is `admin`.
    s.forwarded("/%61dmin/users", &s.admin, "/admin/users")
        .await;
    // Reserved characters stay encoded, in upper-case hex; `%25` stays `%25`.
    s.forwarded("/api/x%3ay%2cz", &s.api, "/api/x%3Ay%2Cz")
        .await;
    s.forwarded("/api/100%25", &s.api, "/api/100%25").await;
    // The query is not part of the path: passed on as sent.
    s.forwarded(
        "/api/q?path=..%2f%2e%2e&x=%41",
        &s.api,
        "/api/q?path=..%2f%2e%2e&x=%41",
    )
    .await;
}

#[tokio::test]
async fn parameters_are_kept_and_never_hide_a_dot_segment() {
    let s = setup().await;
    s.forwarded("/api/a;b=c/d", &s.api, "/api/a;b=c/d").await;
    s.forwarded("/api/..a;/x", &s.api, "/api/..a;/x").await;
    s.refused(&["/api/..;/admin"]).await;
}

#[tokio::test]
async fn a_prefix_matches_whole_segments_only() {
    let s = setup().await;
    s.forwarded("/apiX/secret", &s.other, "/apiX/secret").await;
    s.forwarded("/api-internal", &s.other, "/api-internal")
        .await;
    s.forwarded("/administrator", &s.other, "/administrator")
        .await;
    s.forwarded("/api/x", &s.api, "/api/x").await;
    assert_eq!(s.admin.hits(), 0);
}
