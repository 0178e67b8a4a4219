//! Header matchers decide routes on live requests as configuration.md promises: a regex must
//! match the whole value, `present: true` takes any value (an empty one too), `present: false`
//! only requests without the header, and a header sent more than once is matched on its values
//! joined with `,`. Each route answers by itself with its own name, so the chosen route shows.

use http::{Request, StatusCode};

use crate::harness::*;

const ROUTES: &str = r#"listeners:
  - { name: public, address: "127.0.0.1:0" }
admin: { enabled: false }
services: []
routes:
  - name: region-eu
    match: { path: /region, headers: [{ name: x-region, regex: "eu-[a-z]+" }] }
    respond: { body: eu }
  - name: region-other
    match: { path: /region }
    respond: { body: other }
  - name: flagged
    match: { path: /flag, headers: [{ name: x-flag, present: true }] }
    respond: { body: flagged }
  - name: plain
    match: { path: /flag }
    respond: { body: plain }
  - name: quiet
    match: { path: /debug, headers: [{ name: x-debug, present: false }] }
    respond: { body: quiet }
  - name: pair
    match: { path: /pair, headers: [{ name: x-pair, exact: "a,b" }] }
    respond: { body: pair }
  - name: pair-other
    match: { path: /pair }
    respond: { body: other }
"#;

/// GET `path` with `headers` (a name listed twice is sent twice), over HTTP/1.1 or HTTP/2:
/// the status and the body, which names the route that answered.
async fn route_for(
    gw: &TestGateway,
    h2: bool,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut req = Request::get(gw.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let client = if h2 { h2_client() } else { h1_client() };
    let (parts, body) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        send(&client, req.body(empty()).expect("request")),
    )
    .await
    .expect("an answer in time");
    (parts.status, String::from_utf8_lossy(&body).into_owned())
}

/// Checks every `(headers, expected body)` case over HTTP/1.1 and HTTP/2.
async fn expect_routes(gw: &TestGateway, path: &str, cases: &[(&[(&str, &str)], &str)]) {
    for h2 in [false, true] {
        for (headers, want) in cases {
            let (status, body) = route_for(gw, h2, path, headers).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, *want),
                "{path} with {headers:?}, over {}",
                if h2 { "HTTP/2" } else { "HTTP/1.1" }
            );
        }
    }
}

/// A regex matcher is anchored: `eu-[a-z]+` takes `eu-west`, but neither a value that only
/// contains a match (`xeu-west`) nor one that only starts with it (`eu-west-1`).
#[tokio::test]
async fn a_regex_header_matcher_must_match_the_whole_value() {
    let gw = TestGateway::start(ROUTES).await;
    expect_routes(
        &gw,
        "/region",
        &[
            (&[("x-region", "eu-west")], "eu"),
            (&[("X-Region", "eu-north")], "eu"),
            (&[("x-region", "xeu-west")], "other"),
            (&[("x-region", "eu-west-1")], "other"),
            (&[("x-region", "eu-")], "other"),
            (&[], "other"),
        ],
    )
    .await;
}

/// `present: true` takes the header with any value, an empty one included; without the
/// header the request falls through to the next route.
#[tokio::test]
async fn a_present_header_matcher_takes_any_value_even_an_empty_one() {
    let gw = TestGateway::start(ROUTES).await;
    expect_routes(
        &gw,
        "/flag",
        &[
            (&[("x-flag", "1")], "flagged"),
            (&[("x-flag", "")], "flagged"),
            (&[("x-other", "1")], "plain"),
            (&[], "plain"),
        ],
    )
    .await;
}

/// `present: false` takes only requests without the header: with it, even empty, no route
/// matches and the client gets a 404 `no-route` problem.
#[tokio::test]
async fn an_absent_header_matcher_takes_only_requests_without_the_header() {
    let gw = TestGateway::start(ROUTES).await;
    expect_routes(
        &gw,
        "/debug",
        &[(&[], "quiet"), (&[("x-other", "1")], "quiet")],
    )
    .await;
    for h2 in [false, true] {
        for value in ["1", ""] {
            let (status, body) = route_for(&gw, h2, "/debug", &[("x-debug", value)]).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "x-debug: {value:?}, h2: {h2}"
            );
            let p: serde_json::Value = serde_json::from_str(&body).expect("a problem document");
            assert_eq!(p["type"], "urn:banyan:problem:no-route", "{body}");
        }
    }
}

/// A header sent twice is matched on its values joined with `,` in the order sent, so the
/// matcher sees what the upstream would: `x-pair: a` then `x-pair: b` is `a,b`, and a regex
/// that takes each copy alone does not take the two together.
#[tokio::test]
async fn a_header_sent_twice_is_matched_on_its_values_joined_with_a_comma() {
    let gw = TestGateway::start(ROUTES).await;
    expect_routes(
        &gw,
        "/pair",
        &[
            (&[("x-pair", "a"), ("x-pair", "b")], "pair"),
            (&[("x-pair", "a,b")], "pair"),
            (&[("x-pair", "b"), ("x-pair", "a")], "other"),
            (&[("x-pair", "a")], "other"),
            (&[("x-pair", "a"), ("x-pair", "a")], "other"),
        ],
    )
    .await;
    expect_routes(
        &gw,
        "/region",
        &[
            (&[("x-region", "eu-west"), ("x-region", "eu-west")], "other"),
            (&[("x-region", "eu-west"), ("x-region", "us-east")], "other"),
        ],
    )
    .await;
}
