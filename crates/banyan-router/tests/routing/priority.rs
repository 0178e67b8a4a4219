//! Which route wins when several match: the order documented at the top of `table.rs`.

use super::*;

#[test]
fn a_literal_segment_beats_a_param() {
    let c = routes(
        "
  - {name: by-id, match: {path: '/users/{id}'}, service: app}
  - {name: me, match: {path: /users/me}, service: app}
",
    );
    assert_eq!(get("/users/me").route(&c).as_deref(), Some("me"));
    assert_eq!(get("/users/42").route(&c).as_deref(), Some("by-id"));
}

#[test]
fn the_leftmost_differing_segment_decides_even_against_a_tail() {
    // At the second segment `me` (literal) beats `{id}` (param), so the tail route wins
    // `/users/me/profile` although the other route has a literal `profile` further right.
    let c = routes(
        "
  - {name: profile, match: {path: '/users/{id}/profile'}, service: app}
  - {name: me-anything, match: {path: '/users/me/{*rest}'}, service: app}
",
    );
    assert_eq!(
        get("/users/me/profile").route(&c).as_deref(),
        Some("me-anything")
    );
    assert_eq!(
        get("/users/42/profile").route(&c).as_deref(),
        Some("profile")
    );
}

#[test]
fn a_param_beats_a_tail_and_a_tail_takes_what_is_left() {
    let c = routes(
        "
  - {name: rest, match: {path: '/files/{*rest}'}, service: app}
  - {name: one, match: {path: '/files/{name}'}, service: app}
",
    );
    assert_eq!(get("/files/a").route(&c).as_deref(), Some("one"));
    assert_eq!(get("/files/a/b").route(&c).as_deref(), Some("rest"));
    assert_eq!(get("/files").route(&c).as_deref(), Some("rest"));
}

#[test]
fn a_pattern_that_ends_beats_a_tail_that_would_capture_nothing() {
    let c = routes(
        "
  - {name: under, match: {path: '/docs/{*rest}'}, service: app}
  - {name: index, match: {path: /docs}, service: app}
",
    );
    assert_eq!(get("/docs").route(&c).as_deref(), Some("index"));
    assert_eq!(get("/docs/").route(&c).as_deref(), Some("under"));
}

#[test]
fn an_exact_host_beats_a_wildcard_which_beats_any_host() {
    let c = routes(
        "
  - {name: any, match: {path: '/{*rest}'}, service: app}
  - {name: wild, match: {host: '*.example.com', path: '/{*rest}'}, service: app}
  - {name: exact, match: {host: api.example.com, path: '/{*rest}'}, service: app}
",
    );
    let on = |host: &str| req("GET", host, "/x").route(&c);
    assert_eq!(on("api.example.com").as_deref(), Some("exact"));
    assert_eq!(on("www.example.com").as_deref(), Some("wild"));
    // A wildcard stands for exactly one label.
    assert_eq!(on("example.com").as_deref(), Some("any"));
    assert_eq!(on("a.b.example.com").as_deref(), Some("any"));
    assert_eq!(on("other.org").as_deref(), Some("any"));
}

#[test]
fn a_wildcard_host_needs_a_non_empty_first_label() {
    // `Host: .example.com` survives host normalisation; it has no label for the `*`.
    let c = routes(
        "
  - {name: any, match: {path: '/{*rest}'}, service: app}
  - {name: wild, match: {host: '*.example.com', path: '/{*rest}'}, service: app}
",
    );
    assert_eq!(
        req("GET", ".example.com", "/x").route(&c).as_deref(),
        Some("any")
    );
}

#[test]
fn the_host_outranks_the_path() {
    // A wildcard-host catch-all beats an any-host literal path: hosts are compared first.
    let c = routes(
        "
  - {name: literal, match: {path: /health}, service: app}
  - {name: tenant, match: {host: '*.example.com', path: '/{*rest}'}, service: app}
",
    );
    assert_eq!(get("/health").route(&c).as_deref(), Some("tenant"));
    assert_eq!(
        req("GET", "localhost", "/health").route(&c).as_deref(),
        Some("literal")
    );
}

#[test]
fn a_route_with_methods_beats_one_without() {
    let c = routes(
        "
  - {name: anything, match: {path: /orders}, service: app}
  - {name: create, match: {path: /orders, methods: [POST]}, service: app}
",
    );
    let on = |m: &str| req(m, "api.example.com", "/orders").route(&c);
    assert_eq!(on("POST").as_deref(), Some("create"));
    assert_eq!(on("GET").as_deref(), Some("anything"));
    assert_eq!(on("DELETE").as_deref(), Some("anything"));
}

#[test]
fn more_header_and_query_matchers_beat_fewer() {
    let c = routes(
        "
  - {name: plain, match: {path: /x}, service: app}
  - name: canary
    match: {path: /x, headers: [{name: x-canary, exact: '1'}]}
    service: app
  - name: canary-v2
    match: {path: /x, headers: [{name: x-canary, exact: '1'}], query: [{name: v, exact: '2'}]}
    service: app
",
    );
    assert_eq!(get("/x").route(&c).as_deref(), Some("plain"));
    let canary = || get("/x").header("x-canary", "1");
    assert_eq!(canary().route(&c).as_deref(), Some("canary"));
    assert_eq!(
        canary().query("a=b&v=2").route(&c).as_deref(),
        Some("canary-v2")
    );
    assert_eq!(canary().query("v=3").route(&c).as_deref(), Some("canary"));
    assert_eq!(
        get("/x").query("v=2").route(&c).as_deref(),
        Some("plain"),
        "the query alone is not enough for canary-v2"
    );
}

#[test]
fn head_is_served_by_a_get_route() {
    let c = routes("  - {name: read, match: {path: /items, methods: [GET]}, service: app}\n");
    assert_eq!(
        req("HEAD", "h", "/items").route(&c).as_deref(),
        Some("read")
    );
}

#[test]
fn a_known_path_with_the_wrong_method_is_405_with_the_allowed_methods() {
    let c = routes(
        "
  - {name: read, match: {path: /orders, methods: [GET]}, service: app}
  - {name: write, match: {path: /orders, methods: [POST, PUT]}, service: app}
",
    );
    match req("DELETE", "h", "/orders").lookup(&c) {
        Outcome::MethodNotAllowed(mut allow) => {
            allow.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            assert_eq!(allow, [Method::GET, Method::POST, Method::PUT]);
        }
        other => panic!("expected 405, got {other:?}"),
    }
    assert_eq!(req("DELETE", "h", "/other").lookup(&c), Outcome::NotFound);
}

#[test]
fn a_lower_catch_all_takes_the_request_instead_of_a_405() {
    let c = routes(
        "
  - {name: read, match: {path: /orders, methods: [GET]}, service: app}
  - {name: monolith, match: {path: '/{*rest}'}, service: app}
",
    );
    assert_eq!(
        req("DELETE", "h", "/orders").route(&c).as_deref(),
        Some("monolith")
    );
    assert_eq!(
        req("GET", "h", "/orders").route(&c).as_deref(),
        Some("read")
    );
}

#[test]
fn a_405_on_an_exact_host_gives_way_to_an_any_host_route() {
    let c = routes(
        "
  - {name: api-read, match: {host: api.example.com, path: /orders, methods: [GET]}, service: app}
  - {name: fallback, match: {path: /orders}, service: app}
",
    );
    assert_eq!(
        req("POST", "api.example.com", "/orders")
            .route(&c)
            .as_deref(),
        Some("fallback")
    );
}

#[test]
fn routes_are_served_only_on_their_listeners() {
    let c = routes(
        "
  - {name: pub, match: {path: /x}, service: app, listeners: [public]}
  - {name: int, match: {path: /x}, service: app, listeners: [internal]}
",
    );
    let r = get("/x");
    let name = |o: Outcome, l: &str| match o {
        Outcome::Matched { id, .. } => {
            let t = c.table(l).expect("table");
            t.routes()
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.name.clone())
        }
        _ => None,
    };
    assert_eq!(
        name(r.lookup_in(&c, "public"), "public").as_deref(),
        Some("pub")
    );
    assert_eq!(
        name(r.lookup_in(&c, "internal"), "internal").as_deref(),
        Some("int")
    );
}

#[test]
fn route_hosts_and_request_hosts_follow_one_label_rule() {
    let c = routes(
        "
  - name: internal
    match: {host: billing_v2.internal, path: '/x'}
    service: app
",
    );
    assert_eq!(
        req("GET", "billing_v2.internal", "/x").route(&c).as_deref(),
        Some("internal")
    );
    let long = "a".repeat(64);
    assert_eq!(
        banyan_router::normalize_host(&format!("{long}.example.com")),
        None
    );
    assert!(
        model_errors(&format!(
            "
  - name: long
    match: {{host: {long}.example.com, path: '/x'}}
    service: app
"
        ))
        .contains("is not a valid host name")
    );
}
