//! An upstream's own error answers are the upstream's to give: its 404, 500, 502, 503 and 504
//! reach the client as it sent them, never swapped for one of the gateway's problem documents
//! (which use the same statuses for the gateway's own failures).

use http::{Request, StatusCode, Version};

use crate::harness::*;

/// One of the upstream's own answers: to `path`, `status` with its own content type, body, and
/// one header of its own.
struct Answer {
    path: &'static str,
    status: u16,
    content_type: &'static str,
    body: &'static str,
    header: (&'static str, &'static str),
}

const ANSWERS: &[Answer] = &[
    Answer {
        path: "/missing",
        status: 404,
        content_type: "text/html; charset=utf-8",
        body: "<h1>No such invoice</h1>",
        header: ("x-served-by", "billing-7"),
    },
    Answer {
        path: "/crash",
        status: 500,
        content_type: "application/json",
        body: r#"{"error":"null pointer"}"#,
        header: ("x-served-by", "billing-7"),
    },
    Answer {
        path: "/bad-gateway",
        status: 502,
        content_type: "application/json",
        body: r#"{"error":"database unreachable"}"#,
        header: ("x-served-by", "billing-7"),
    },
    Answer {
        path: "/maintenance",
        status: 503,
        content_type: "text/plain",
        body: "down for maintenance",
        header: ("retry-after", "120"),
    },
    Answer {
        path: "/slow-db",
        status: 504,
        content_type: "application/problem+json",
        body: r#"{"type":"urn:billing:db-timeout","title":"Database timeout","status":504}"#,
        header: ("x-served-by", "billing-7"),
    },
];

/// The response the backend gives to `path`.
fn answer(path: &str) -> http::Response<Body> {
    let Some(a) = ANSWERS.iter().find(|a| a.path == path) else {
        return http::Response::new(full("ok"));
    };
    http::Response::builder()
        .status(a.status)
        .header("content-type", a.content_type)
        .header(a.header.0, a.header.1)
        .body(full(a.body))
        .expect("response")
}

/// A backend's 404 page, its 500 and 502 JSON, its 503 with `Retry-After` and its own 504
/// problem document reach HTTP/1.1 and HTTP/2 clients unchanged, from HTTP/1.1 and HTTP/2
/// services alike: status, content type, headers and body.
#[tokio::test]
async fn upstream_error_statuses_pass_through_untouched() {
    for upstream in [Upstream::Http1, Upstream::Http2] {
        let backend = Backend::start(|req: Request<hyper::body::Incoming>| async move {
            answer(req.uri().path())
        })
        .await;
        let gw = TestGateway::start(&upstream.config(backend.addr)).await;
        for (client, version) in [
            (h1_client(), Version::HTTP_11),
            (h2_client(), Version::HTTP_2),
        ] {
            for a in ANSWERS {
                let case = format!("{upstream:?} upstream, {version:?} client, {}", a.path);
                let req = Request::get(gw.url(a.path)).body(empty()).expect("request");
                let (parts, got) =
                    tokio::time::timeout(std::time::Duration::from_secs(10), send(&client, req))
                        .await
                        .unwrap_or_else(|_| panic!("{case}: no answer in time"));
                assert_eq!(
                    parts.status,
                    StatusCode::from_u16(a.status).expect("status"),
                    "{case}: {got:?}"
                );
                assert_eq!(
                    parts
                        .headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok()),
                    Some(a.content_type),
                    "{case}: the upstream's content type was replaced: {parts:?}"
                );
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    a.body,
                    "{case}: the upstream's body was replaced"
                );
                assert_eq!(
                    parts.headers.get(a.header.0).and_then(|v| v.to_str().ok()),
                    Some(a.header.1),
                    "{case}: the upstream's `{}` was lost: {parts:?}",
                    a.header.0
                );
            }
        }
        assert_eq!(backend.hits(), 2 * ANSWERS.len());
        upstream.assert_spoken_to(&backend);
    }
}
