//! Host and request-target: one unambiguous authority per request or a 400, no tunnels, no
//! `*`, and every spelling of a host name routes exactly like its plain form.

use std::time::Duration;

use http::Request;

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(5);

/// `api.example.com` goes to `api`; every other host (and none) to `other`.
fn config(api: std::net::SocketAddr, other: std::net::SocketAddr) -> String {
    format!(
        r#"listeners:
  - {{ name: public, address: "127.0.0.1:0" }}
admin: {{ enabled: false }}
services:
  - name: api
    endpoints: [{{ url: "http://{api}" }}]
  - name: other
    endpoints: [{{ url: "http://{other}" }}]
routes:
  - name: api-exact
    match: {{ host: api.example.com, path: "/{{*rest}}" }}
    service: api
  - name: any-host
    match: {{ path: "/{{*rest}}" }}
    service: other
"#
    )
}

struct Setup {
    api: Backend,
    other: Backend,
    gw: TestGateway,
}

async fn setup() -> Setup {
    let api = Backend::echo().await;
    let other = Backend::echo().await;
    let gw = TestGateway::start(&config(api.addr, other.addr)).await;
    Setup { api, other, gw }
}

impl Setup {
    /// One request on its own connection (the gateway closes it, or the request says
    /// `Connection: close`); the single response it got.
    async fn one(&self, req: &str) -> RawResponse {
        let text = raw(self.gw.addr(), req.as_bytes(), WAIT).await;
        let mut r = responses(text.as_bytes());
        assert_eq!(r.len(), 1, "{req:?} got {text:?}");
        r.remove(0)
    }

    /// Asserts `req` is refused with a 400 problem and reaches no backend.
    async fn refused(&self, req: &str) {
        let r = self.one(req).await;
        assert_eq!(r.status, 400, "{req:?}: {r:?}");
        let p = r.problem();
        assert_eq!(p["type"], "urn:banyan:problem:bad-request", "{req:?}");
        assert_eq!(r.header("connection"), Some("close"), "{req:?}");
        self.no_hits();
    }

    fn no_hits(&self) {
        assert_eq!(
            self.api.hits() + self.other.hits(),
            0,
            "a backend was reached"
        );
    }
}

#[tokio::test]
async fn two_host_headers_are_refused() {
    let s = setup().await;
    s.refused("GET /x HTTP/1.1\r\nHost: api.example.com\r\nHost: evil.example\r\n\r\n")
        .await;
    // Even when they agree: one field, one value.
    s.refused("GET /x HTTP/1.1\r\nHost: api.example.com\r\nHost: api.example.com\r\n\r\n")
        .await;
    s.refused("GET /x HTTP/1.1\r\nHost: api.example.com, evil.example\r\n\r\n")
        .await;
}

#[tokio::test]
async fn http11_without_host_is_refused() {
    let s = setup().await;
    s.refused("GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n").await;
}

/// With `rewrite.host: client` and no client host to pass on, the upstream still gets a Host
/// (HTTP/1.1 requires one): the endpoint's.
#[tokio::test]
async fn http10_without_host_still_sends_a_host_upstream() {
    let api = Backend::echo().await;
    let other = Backend::echo().await;
    let yaml = config(api.addr, other.addr).replace(
        "    service: other\n",
        "    service: other\n    rewrite: { host: client }\n",
    );
    let gw = TestGateway::start(&yaml).await;
    let text = raw(gw.addr(), b"GET /legacy HTTP/1.0\r\n\r\n", WAIT).await;
    let r = responses(text.as_bytes());
    assert_eq!(r.len(), 1, "{text:?}");
    assert_eq!(r[0].status, 200, "{text:?}");
    let seen = other.last().expect("the any-host route's backend");
    assert_eq!(seen.headers["host"], other.addr.to_string().as_str());
}

#[tokio::test]
async fn http10_without_host_is_served_by_an_any_host_route() {
    let s = setup().await;
    let r = s.one("GET /legacy HTTP/1.0\r\n\r\n").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.api.hits(), 0);
    let seen = s.other.last().expect("the any-host route's backend");
    assert_eq!(seen.uri, "/legacy");
    assert!(
        !seen.headers.contains_key("x-forwarded-host"),
        "no host, so none forwarded: {:?}",
        seen.headers
    );
}

#[tokio::test]
async fn invalid_hosts_are_refused() {
    let s = setup().await;
    for host in [
        "a b",
        "evil.example/x",
        "evil.example?x",
        "evil.example#x",
        "user@api.example.com",
        "api.example.com:abc",
        "api.example.com:80:80",
        "a:b:1",
        "[::1",
        "[::1]x",
        "[::1]:abc",
        "[api.example.com]",
        "api.example.com:99999",
        "x]y",
        "api..example.com",
        ".api.example.com",
        "api.example.com..",
        "api.example.com\\x",
        "%61pi.example.com",
        "\"api.example.com\"",
    ] {
        s.refused(&format!("GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n"))
            .await;
    }
}

#[tokio::test]
async fn an_absolute_target_must_name_the_host_it_is_sent_with() {
    let s = setup().await;
    s.refused("GET http://evil.example/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        .await;
    s.refused("GET http://api.example.com/x HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        .await;
    s.refused("GET http://user@api.example.com/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        .await;
    s.refused("GET ftp://api.example.com/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        .await;

    let r = s
        .one(
            "GET http://API.example.com/abs?q=1 HTTP/1.1\r\nHost: api.example.com\r\n\
              Connection: close\r\n\r\n",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(s.other.hits(), 0);
    assert_eq!(s.api.last().expect("api hit").uri, "/abs?q=1");
}

#[tokio::test]
async fn connect_is_refused() {
    let s = setup().await;
    s.refused("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n")
        .await;
    // A tunnel that is refused is not a tunnel: nothing sent after it gets through.
    let text = raw(
        s.gw.addr(),
        b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\nSSH-2.0-x\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&text), [400], "{text}");
    s.no_hits();
}

#[tokio::test]
async fn an_asterisk_target_is_refused() {
    let s = setup().await;
    s.refused("OPTIONS * HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        .await;
    s.refused("GET * HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        .await;
}

#[tokio::test]
async fn case_port_and_trailing_dot_variants_route_like_the_plain_host() {
    let s = setup().await;
    let variants = [
        "api.example.com",
        "API.Example.COM.",
        "api.example.com.",
        "API.EXAMPLE.COM",
        "Api.Example.Com:80",
        "api.example.com.:8080",
    ];
    for host in variants {
        let r = s
            .one(&format!(
                "GET /v/{host} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(r.status, 200, "{host}: {r:?}");
    }
    assert_eq!(s.other.hits(), 0, "a variant missed the exact-host route");
    assert_eq!(s.api.hits(), variants.len());

    // The same over HTTP/2, where the host is `:authority`.
    let req = Request::get("http://API.Example.COM./h2")
        .body(())
        .expect("request");
    let (status, _) = h2_request(s.gw.addr(), req, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.other.hits(),
        0,
        "the HTTP/2 variant missed the exact-host route"
    );

    // A different host is not a variant.
    let r = s
        .one("GET /v/x HTTP/1.1\r\nHost: api.example.com.evil\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.other.hits(), 1);
}
