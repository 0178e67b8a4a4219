//! The command line: `banyan validate` reports every error of a file at once, each located and
//! with a hint; `banyan routes` prints the table in the order routes are tried; `banyan routes
//! explain` says which route a request takes and why the ones ranked above it did not.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::scratch_dir;

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn banyan(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_banyan"))
        .args(args)
        .output()
        .expect("run banyan");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn file(yaml: &str) -> PathBuf {
    let path = scratch_dir().join("banyan.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const SEVERAL_ERRORS: &str = r#"listeners:
  - { name: public, address: "127.0.0.1:8080" }
services:
  - name: app
    endpoints: [{ url: "http://127.0.0.1:9000" }]
    timeouts: { connect: 5 parsecs }
routes:
  - name: typo
    match: { path: /typo }
    service: app
    timout: 5s
  - name: missing
    match: { path: /missing }
    service: nowhere
  - name: one
    match: { path: "/users/{id}" }
    service: app
  - name: two
    match: { path: "/users/{name}" }
    service: app
  - name: dotdot
    match: { path: /a/../b }
    service: app
"#;

#[test]
fn validate_prints_every_error_located_with_a_hint_and_exits_1() {
    let cfg = file(SEVERAL_ERRORS);
    let out = banyan(&["validate", "-c", path_str(&cfg)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let text = &out.stderr;
    let expected = [
        // A bad duration.
        (
            "services[0].timeouts.connect (line 6, column 26)",
            "`parsecs` is not a duration unit",
            "use ms, s, m or h",
        ),
        // A typo in a field name.
        (
            "routes[0].timout (line 11, column 5)",
            "unknown field `timout`",
            "hint: did you mean `timeout`?",
        ),
        // A route to a service that does not exist.
        (
            "routes[1].service (line 14, column 14)",
            "no service is named `nowhere`",
            "hint: services: app",
        ),
        // Two routes that match the same requests at the same priority.
        (
            "routes[3].match (line 19, column 12)",
            "route `two` conflicts with route `one`",
            "hint: the two routes match exactly the same requests",
        ),
        // A route no request can reach.
        (
            "routes[4].match.path (line 22, column 20)",
            "segment `..` can never match",
            "hint: remove it",
        ),
    ];
    for (at, what, hint) in expected {
        let line = text
            .lines()
            .position(|l| l.contains(at))
            .unwrap_or_else(|| panic!("no error at {at}:\n{text}"));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[line].contains(what), "{at}: {}", lines[line]);
        let with_hint = format!("{}\n{}", lines[line], lines.get(line + 1).unwrap_or(&""));
        assert!(with_hint.contains(hint), "{at}: no hint `{hint}`:\n{text}");
    }
    let errors = text.lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(errors, expected.len(), "exactly these errors:\n{text}");
    assert!(
        text.contains(&format!("{} errors", expected.len())),
        "{text}"
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

const PRIORITIES: &str = r#"listeners:
  - { name: public, address: "127.0.0.1:8080" }
services:
  - name: app
    endpoints: [{ url: "http://127.0.0.1:9000" }]
  - name: canary
    endpoints: [{ url: "http://127.0.0.1:9001" }]
routes:
  - name: catch-all
    match: { path: "/{*rest}" }
    service: app
  - name: user
    match: { path: "/users/{id}" }
    service: app
  - name: user-canary
    match: { path: "/users/{id}", headers: [{ name: x-canary, exact: "1" }] }
    service: canary
  - name: user-update
    match: { methods: [PUT], path: "/users/{id}" }
    service: app
  - name: user-health
    match: { path: /users/health }
    respond: { body: ok }
"#;

#[test]
fn validate_accepts_a_valid_file_with_a_summary() {
    let cfg = file(PRIORITIES);
    let out = banyan(&["validate", "-c", path_str(&cfg)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("valid (5 routes, 2 services)"),
        "{}",
        out.stdout
    );
}

#[test]
fn routes_prints_the_table_in_priority_order_not_file_order() {
    let cfg = file(PRIORITIES);
    let out = banyan(&["routes", "-c", path_str(&cfg)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            cols.next()?.parse::<usize>().ok()?;
            cols.next()
        })
        .collect();
    // A literal segment beats a parameter, which beats a tail; then a route with methods beats
    // one without, and more matchers beat fewer.
    assert_eq!(
        names,
        [
            "user-health",
            "user-update",
            "user-canary",
            "user",
            "catch-all"
        ],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("listener public: 5 routes"),
        "{}",
        out.stdout
    );
    let canary = out
        .stdout
        .lines()
        .find(|l| l.contains("user-canary"))
        .expect("canary row");
    assert!(
        canary.contains("x-canary") && canary.contains("service canary"),
        "{canary}"
    );
}

#[test]
fn routes_explain_names_the_winner_and_why_higher_routes_lost() {
    let cfg = file(PRIORITIES);
    let out = banyan(&[
        "routes",
        "explain",
        "-c",
        path_str(&cfg),
        "GET",
        "http://api.example.com/users/42",
        "-H",
        "x-canary: 0",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = &out.stdout;
    assert!(
        text.contains("→ route `user` (#4 of 5) → service app"),
        "{text}"
    );
    assert!(text.contains("captures: id=42"), "{text}");
    let why = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!("`{name}`:")))
            .unwrap_or_else(|| panic!("no reason for {name}:\n{text}"))
            .to_string()
    };
    assert!(
        why("user-update").contains("method GET not in [PUT]"),
        "{text}"
    );
    assert!(
        why("user-canary").contains("header matcher x-canary=\"1\" failed"),
        "{text}"
    );
    assert!(why("user-health").contains("does not match"), "{text}");

    // With the header the canary wins, and only the two above it are explained.
    let out = banyan(&[
        "routes",
        "explain",
        "-c",
        path_str(&cfg),
        "GET",
        "http://api.example.com/users/42",
        "-H",
        "x-canary: 1",
    ]);
    assert!(
        out.stdout
            .contains("→ route `user-canary` (#3 of 5) → service canary"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("`user`:"), "{}", out.stdout);
}

/// When no route takes the request, `explain` says what the gateway would answer instead: 405
/// with the `Allow` its response would carry, 404, or 400 for a path refused before routing.
#[test]
fn routes_explain_shows_the_refusal_the_gateway_would_answer() {
    let cfg = file(
        r#"listeners:
  - { name: public, address: "127.0.0.1:8080" }
services:
  - name: billing
    endpoints: [{ url: "http://127.0.0.1:9000" }]
routes:
  - name: invoice
    match: { methods: [GET], path: "/v2/invoices/{id}" }
    service: billing
"#,
    );
    let explain = |method: &str, url: &str| {
        let out = banyan(&["routes", "explain", "-c", path_str(&cfg), method, url]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    let text = explain("DELETE", "http://api.example.com/v2/invoices/42");
    assert!(
        text.contains("→ 405 Method Not Allowed (Allow: GET, HEAD)"),
        "{text}"
    );
    assert!(text.contains("method DELETE not in [GET]"), "{text}");
    let text = explain("GET", "http://api.example.com/v1/invoices/42");
    assert!(text.contains("→ 404 no route matches"), "{text}");
    let text = explain("GET", "http://api.example.com/v2/%2e%2e/admin");
    assert!(text.contains("→ 400 Bad Request before routing"), "{text}");
}
