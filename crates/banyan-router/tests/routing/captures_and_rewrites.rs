//! What a matched route captures from the path, and the path it forwards after a rewrite.

use super::*;

use banyan_router::{Captures, Rewrite};

/// The forwarded path for a request on `public`, from its route's rewrite.
fn forwarded(c: &CompiledRoutes, path: &str) -> String {
    let r = get(path);
    let Outcome::Matched { id, captures } = r.lookup(c) else {
        panic!("{path} did not match");
    };
    let rewrite: &Rewrite = c.rewrites[id].as_ref().expect("route has a rewrite");
    let mut out = String::new();
    rewrite.apply(path, &captures, &mut out);
    out
}

#[test]
fn a_param_captures_one_segment() {
    let c = routes("  - {name: inv, match: {path: '/v2/invoices/{id}'}, service: app}\n");
    assert_eq!(get("/v2/invoices/42").captures(&c), ["42"]);
    assert_eq!(get("/v2/invoices/42/lines").route(&c), None);
}

#[test]
fn params_and_a_tail_capture_in_path_order() {
    let c = routes("  - {name: t, match: {path: '/t/{tenant}/files/{*rest}'}, service: app}\n");
    assert_eq!(
        get("/t/acme/files/a/b.txt").captures(&c),
        ["acme", "a/b.txt"]
    );
}

#[test]
fn a_tail_captures_the_rest_including_nothing() {
    let c = routes("  - {name: static, match: {path: '/static/{*rest}'}, service: app}\n");
    assert_eq!(get("/static/css/site.css").captures(&c), ["css/site.css"]);
    assert_eq!(get("/static/dir/").captures(&c), ["dir/"]);
    assert_eq!(get("/static/").captures(&c), [""]);
    assert_eq!(get("/static").captures(&c), [""]);
    assert_eq!(get("/staticx").route(&c), None);
}

#[test]
fn a_root_tail_captures_the_whole_path_without_its_slash() {
    let c = routes("  - {name: all, match: {path: '/{*rest}'}, service: app}\n");
    assert_eq!(get("/").captures(&c), [""]);
    assert_eq!(get("/a/b").captures(&c), ["a/b"]);
}

#[test]
fn captures_survive_a_path_deeper_than_the_inline_capture_stack() {
    // Lookups keep up to eight spans inline and spill beyond that.
    let c = routes(
        "  - {name: deep, match: {path: '/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{*rest}'}, service: app}\n",
    );
    assert_eq!(
        get("/1/2/3/4/5/6/7/8/9/10/11").captures(&c),
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10/11"]
    );
}

#[test]
fn an_outcome_equals_one_built_from_the_same_spans() {
    // The lookup tries `{p}/{q}` first and backs out before the tail takes the request.
    let c = routes(
        "
  - {name: pair, match: {path: '/{p}/{q}/c'}, service: app}
  - {name: all, match: {path: '/{*rest}'}, service: app}
",
    );
    let Outcome::Matched { id, captures } = get("/x/y/z").lookup(&c) else {
        panic!("no match");
    };
    let expected = Captures([(1, 6)].into_iter().collect());
    assert_eq!(captures, expected);
    assert_eq!(
        get("/x/y/z").lookup(&c),
        Outcome::Matched {
            id,
            captures: expected
        }
    );
}

#[test]
fn a_template_rewrite_uses_the_captures() {
    let c = routes(
        "
  - name: inv
    match: {path: '/v2/invoices/{id}'}
    service: app
    rewrite: {path: '/invoices/{id}'}
  - name: assets
    match: {path: '/static/{*rest}'}
    service: app
    rewrite: {path: '/assets/{rest}'}
  - name: swap
    match: {path: '/pair/{a}/{b}'}
    service: app
    rewrite: {path: '/{b}/then/{a}'}
",
    );
    assert_eq!(forwarded(&c, "/v2/invoices/42"), "/invoices/42");
    assert_eq!(
        forwarded(&c, "/static/css/site.css"),
        "/assets/css/site.css"
    );
    assert_eq!(forwarded(&c, "/static"), "/assets/");
    assert_eq!(forwarded(&c, "/pair/x/y"), "/y/then/x");
}

#[test]
fn a_tail_written_with_its_star_in_the_template_is_the_same_capture() {
    let c = routes(
        "
  - name: assets
    match: {path: '/static/{*rest}'}
    service: app
    rewrite: {path: '/{*rest}'}
",
    );
    assert_eq!(forwarded(&c, "/static/a/b"), "/a/b");
    assert_eq!(forwarded(&c, "/static"), "/");
}

#[test]
fn strip_prefix_removes_whole_leading_segments() {
    let c = routes(
        "
  - name: api
    match: {path: '/api/v1/{*rest}'}
    service: app
    rewrite: {strip_prefix: /api}
",
    );
    assert_eq!(forwarded(&c, "/api/v1/users/7"), "/v1/users/7");
    assert_eq!(forwarded(&c, "/api/v1"), "/v1");
}

#[test]
fn stripping_the_whole_path_forwards_the_root() {
    let c = routes(
        "
  - name: api
    match: {path: '/api/{*rest}'}
    service: app
    rewrite: {strip_prefix: /api}
",
    );
    assert_eq!(forwarded(&c, "/api"), "/");
    assert_eq!(forwarded(&c, "/api/"), "/");
    assert_eq!(forwarded(&c, "/api/users/"), "/users/");
}

#[test]
fn a_strip_prefix_that_is_not_a_literal_prefix_is_refused() {
    let errs = router_errors(
        "
  - name: api
    match: {path: '/api/{*rest}'}
    service: app
    rewrite: {strip_prefix: /ap}
",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    let d = &errs[0];
    assert_eq!(d.position.path, "routes[0].rewrite.strip_prefix");
    assert!(d.message.contains("`/ap` is not a prefix"), "{d}");
    assert!(
        d.hint.as_deref().is_some_and(|h| h.contains("`/api`")),
        "{d}"
    );
}

#[test]
fn a_template_naming_an_unknown_capture_is_refused_with_the_known_ones() {
    let errs = router_errors(
        "
  - name: inv
    match: {path: '/v2/invoices/{id}'}
    service: app
    rewrite: {path: '/invoices/{invoice}'}
",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    let d = &errs[0];
    assert_eq!(d.position.path, "routes[0].rewrite.path");
    assert!(d.message.contains("`{invoice}` is not a capture"), "{d}");
    assert_eq!(d.hint.as_deref(), Some("captures: id"));
}

#[test]
fn templates_that_would_forward_an_unsafe_or_uncanonical_path_are_refused() {
    for (template, says) in [
        ("/x/../admin/{id}", "not a safe path"),
        ("/a%2fb/{id}", "not a safe path"),
        ("/a/%zz/{id}", "not a safe path"),
        ("/a b/{id}", "not a safe path"),
        ("/a//{id}", "canonical"),
        ("/%41/{id}", "canonical"),
        ("/a?x=1/{id}", "`?` is not allowed"),
        ("/a#frag/{id}", "`#` is not allowed"),
    ] {
        let errs = router_errors(&format!(
            "
  - name: inv
    match: {{path: '/v2/invoices/{{id}}'}}
    service: app
    rewrite: {{path: '{template}'}}
"
        ));
        assert_eq!(errs.len(), 1, "{template}: {errs:?}");
        assert_eq!(
            errs[0].position.path, "routes[0].rewrite.path",
            "{template}"
        );
        assert!(errs[0].message.contains(says), "{template}: {}", errs[0]);
    }
}

#[test]
fn a_param_needs_a_non_empty_segment() {
    let c = routes(
        "
  - name: user
    match: {path: '/users/{id}'}
    service: app
  - name: users-rest
    match: {path: '/users/{*rest}'}
    service: app
",
    );
    assert_eq!(get("/users/7").route(&c).as_deref(), Some("user"));
    // `/users/` has an empty last segment: not a user id, so the tail takes it.
    assert_eq!(get("/users/").route(&c).as_deref(), Some("users-rest"));
}
