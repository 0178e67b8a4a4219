//! Headers a client must not be able to forge: the gateway's identity namespace in any
//! spelling, hop-by-hop nominations that would strip framing or routing, forwarding headers
//! from peers that are not trusted proxies, method and URL overrides, and control characters.

use std::time::Duration;

use bytes::Bytes;
use http::Request;

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(5);

fn config(backend: std::net::SocketAddr, server: &str) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
{server}services:
  - name: backend
    endpoints: [{{ url: "http://{backend}" }}]
routes:
  - name: api
    match: {{ path: "/api/{{*rest}}" }}
    service: backend
  - name: client-host
    match: {{ path: "/client-host/{{*rest}}" }}
    service: backend
    rewrite: {{ host: client }}
"#
    )
}

async fn setup(server: &str) -> (Recorder, TestGateway) {
    let rec = Recorder::start().await;
    let gw = TestGateway::start(&config(rec.addr(), server)).await;
    (rec, gw)
}

/// Sends one raw request (which should say `Connection: close` unless it is refused) and
/// returns the single response.
async fn one(gw: &TestGateway, req: &str) -> RawResponse {
    let text = raw(gw.addr(), req.as_bytes(), WAIT).await;
    let mut r = responses(text.as_bytes());
    assert_eq!(r.len(), 1, "{req:?} got {text:?}");
    r.remove(0)
}

/// The headers of the last request the backend saw.
fn last_headers(rec: &Recorder) -> http::HeaderMap {
    rec.backend.last().expect("the backend was reached").headers
}

/// True for a name that is `prefix` followed by anything, with `_` and `-` alike.
fn in_namespace(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name[..prefix.len()]
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
}

#[tokio::test]
async fn identity_headers_never_reach_the_backend_in_any_spelling() {
    let (rec, gw) = setup("").await;
    let forged = [
        "X-Banyan-Consumer: admin",
        "x-banyan-scopes: *",
        "X-BANYAN-ROLE: root",
        "X_Banyan_Consumer: admin",
        "x_banyan-consumer: admin",
        "X-Banyan_Consumer: admin",
        "x-banyan-: empty-suffix",
    ];
    let req = format!(
        "GET /api/me HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n{}\r\n\r\n",
        forged.join("\r\n")
    );
    let r = one(&gw, &req).await;
    assert_eq!(r.status, 200, "{r:?}");
    let h = last_headers(&rec);
    let leaked: Vec<&str> = h
        .keys()
        .map(|k| k.as_str())
        .filter(|k| in_namespace(k, "x-banyan-"))
        .collect();
    assert!(
        leaked.is_empty(),
        "forged identity reached the backend: {leaked:?}"
    );

    // And over HTTP/2.
    let req = Request::get("http://api.example.com/api/me2")
        .header("x-banyan-consumer", "admin")
        .header("x_banyan_consumer", "admin")
        .body(())
        .expect("request");
    let (status, _) = h2_request(gw.addr(), req, None).await;
    assert_eq!(status, 200);
    let h = last_headers(&rec);
    assert!(
        !h.keys().any(|k| in_namespace(k.as_str(), "x-banyan-")),
        "{h:?}"
    );
}

#[tokio::test]
async fn a_custom_identity_prefix_is_just_as_closed() {
    let (rec, gw) = setup("server: { identity_header_prefix: \"x-acme-\" }\n").await;
    let r = one(
        &gw,
        "GET /api/me HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Acme-User: admin\r\n\
         X_ACME_USER: admin\r\nX-Acme-Other: 1\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    let h = last_headers(&rec);
    assert!(
        !h.keys().any(|k| in_namespace(k.as_str(), "x-acme-")),
        "{h:?}"
    );
}

#[tokio::test]
async fn connection_can_nominate_custom_headers_but_not_framing_or_routing() {
    let (rec, gw) = setup("").await;
    // A nominated custom header goes, with the Connection header itself.
    let r = one(
        &gw,
        "GET /api/a HTTP/1.1\r\nHost: api.example.com\r\n\
         Connection: close, x-custom, x-banyan-consumer\r\nX-Custom: 1\r\n\
         X-Banyan-Consumer: admin\r\nX-Kept: 1\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    let h = last_headers(&rec);
    for gone in ["x-custom", "x-banyan-consumer", "connection"] {
        assert!(!h.contains_key(gone), "{gone} reached the backend");
    }
    assert_eq!(h["x-kept"], "1");

    // Content-Length (any spelling) stays, and the body arrives whole.
    for nominee in ["content-length", "Content-Length", "content_length"] {
        let r = one(
            &gw,
            &format!(
                "POST /api/cl HTTP/1.1\r\nHost: api.example.com\r\n\
                 Connection: close, {nominee}\r\nContent-Length: 5\r\n\r\nhello"
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{nominee}: {r:?}");
        assert_eq!(last_headers(&rec)["content-length"], "5", "{nominee}");
    }
    // Transfer-Encoding nominated: the chunked body is still read and forwarded whole.
    let r = one(
        &gw,
        "POST /api/te HTTP/1.1\r\nHost: api.example.com\r\n\
         Connection: close, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let complete = rec.complete().await;
    let bodies: Vec<(&str, &[u8])> = complete
        .iter()
        .map(|(u, b)| (u.as_str(), &b[..]))
        .filter(|(u, _)| *u != "/api/a")
        .collect();
    assert_eq!(
        bodies,
        [
            ("/api/cl", &b"hello"[..]),
            ("/api/cl", b"hello"),
            ("/api/cl", b"hello"),
            ("/api/te", b"hello"),
        ]
    );

    // Host nominated: the upstream Host is still the endpoint's, or the client's when the
    // route keeps it; X-Forwarded-Host is still the client's.
    let r = one(
        &gw,
        "GET /api/h HTTP/1.1\r\nHost: api.example.com\r\nConnection: close, host\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    let h = last_headers(&rec);
    assert_eq!(h["host"], rec.addr().to_string().as_str());
    assert_eq!(h["x-forwarded-host"], "api.example.com");
    let r = one(
        &gw,
        "GET /client-host/h HTTP/1.1\r\nHost: api.example.com\r\nConnection: close, host\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(last_headers(&rec)["host"], "api.example.com");

    // The request id cannot be nominated away either.
    let r = one(
        &gw,
        "GET /api/id HTTP/1.1\r\nHost: a\r\nConnection: close, x-request-id\r\n\
         X-Request-Id: trace-1\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(last_headers(&rec)["x-request-id"], "trace-1");
}

const FORGED_FORWARDING: &str = "X-Forwarded-For: 203.0.113.9\r\n\
    Forwarded: for=203.0.113.9;host=admin.internal;proto=https\r\n\
    X-Real-IP: 203.0.113.9\r\n\
    X-Forwarded-Host: admin.internal\r\n\
    X-Forwarded-Proto: https\r\n\
    X_Forwarded_For: 198.51.100.7\r\n\
    X_Real_IP: 198.51.100.7\r\n";

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_replaced() {
    let (rec, gw) = setup("").await;
    let r = one(
        &gw,
        &format!(
            "GET /api/f HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n{FORGED_FORWARDING}\r\n"
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let h = last_headers(&rec);
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(
        h["forwarded"],
        "for=127.0.0.1;proto=http;host=api.example.com"
    );
    assert_eq!(h["x-forwarded-host"], "api.example.com");
    assert_eq!(h["x-forwarded-proto"], "http");
    for gone in ["x-real-ip", "x_forwarded_for", "x_real_ip"] {
        assert!(!h.contains_key(gone), "{gone} reached the backend");
    }
}

#[tokio::test]
async fn forwarding_headers_from_a_trusted_proxy_are_extended() {
    let (rec, gw) = setup("server: { trusted_proxies: [127.0.0.1] }\n").await;
    let r = one(
        &gw,
        &format!(
            "GET /api/f HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n{FORGED_FORWARDING}\r\n"
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let h = last_headers(&rec);
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(
        h["forwarded"],
        "for=203.0.113.9;host=admin.internal;proto=https, for=127.0.0.1;proto=http;host=api.example.com"
    );
    assert_eq!(h["x-real-ip"], "203.0.113.9");
    assert_eq!(h["x-forwarded-host"], "admin.internal");
    assert_eq!(h["x-forwarded-proto"], "https");
    // Underscore spellings are never believed, not even from a trusted proxy.
    for gone in ["x_forwarded_for", "x_real_ip"] {
        assert!(!h.contains_key(gone), "{gone} reached the backend");
    }
}

#[tokio::test]
async fn method_override_and_rewrite_url_headers_are_removed() {
    let (rec, gw) = setup("").await;
    let r = one(
        &gw,
        "GET /api/items/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
         X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\n\
         X-Original-Method: DELETE\r\nX-Original-URL: /admin/drop\r\nX-Rewrite-URL: /admin/drop\r\n\
         X_Original_URL: /admin/drop\r\nX_HTTP_Method_Override: DELETE\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = rec.backend.last().expect("seen");
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.uri, "/api/items/1");
    let left: Vec<&str> = seen
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| {
            let k = k.replace('_', "-");
            k.contains("method") || k.contains("original") || k.contains("rewrite")
        })
        .collect();
    assert!(
        left.is_empty(),
        "override headers reached the backend: {left:?}"
    );

    // Over HTTP/2 too.
    let req = Request::post("http://a/api/items/2")
        .header("x-http-method-override", "DELETE")
        .header("x-original-url", "/admin/drop")
        .body(())
        .expect("request");
    let (status, _) = h2_request(gw.addr(), req, Some(Bytes::from_static(b"{}"))).await;
    assert_eq!(status, 200);
    let h = last_headers(&rec);
    assert!(!h.contains_key("x-http-method-override") && !h.contains_key("x-original-url"));
}

#[tokio::test]
async fn control_characters_in_header_values_are_refused_by_the_parser() {
    let (rec, gw) = setup("").await;
    for value in [
        &b"a\x00b"[..],
        b"a\x01b",
        b"\x1b[2J\x1b[31mFAKE LOG LINE",
        b"a\x7fb",
        b"a\rb",
        b"a\x0bb",
        b"a\x0cb",
    ] {
        let mut req = b"GET /api/c HTTP/1.1\r\nHost: a\r\nX-Note: ".to_vec();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n\r\n");
        let text = raw(gw.addr(), &req, WAIT).await;
        assert_eq!(statuses(&text), [400], "{value:?}: {text}");
    }
    // In a name, too.
    let text = raw(
        gw.addr(),
        b"GET /api/c HTTP/1.1\r\nHost: a\r\nX-\x01: v\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&text), [400], "{text}");
    assert_eq!(rec.backend.hits(), 0, "{:?}", rec.uris());
}

#[tokio::test]
async fn a_bare_line_feed_cannot_smuggle_an_identity_header_in() {
    // A bare LF ends a header line for lenient parsers; whether the gateway refuses it or
    // reads a second header, that header is never a trusted one.
    let (rec, gw) = setup("").await;
    let text = raw(
        gw.addr(),
        b"GET /api/lf HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\
          X-Note: a\nX-Banyan-Consumer: admin\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
        WAIT,
    )
    .await;
    match statuses(&text).as_slice() {
        [400] => assert_eq!(rec.backend.hits(), 0),
        [200] => {
            let h = last_headers(&rec);
            assert!(
                !h.keys().any(|k| in_namespace(k.as_str(), "x-banyan-")),
                "{h:?}"
            );
            assert_eq!(h["x-forwarded-for"], "127.0.0.1");
            assert!(
                h.get("x-note")
                    .is_none_or(|v| !v.as_bytes().contains(&b'\n')),
                "{h:?}"
            );
        }
        other => panic!("unexpected answers {other:?}: {text}"),
    }
}
