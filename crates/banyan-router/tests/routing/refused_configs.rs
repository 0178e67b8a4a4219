//! Configs that are refused: conflicting routes, routes no request could reach, and routes that
//! name what does not exist. Each error must point at the route and say what is wrong.

use super::*;

/// The single error the router reports, checked to name both routes.
fn one_conflict(routes: &str, first: &str, second: &str) -> Diagnostic {
    let errs = router_errors(routes);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let d = errs.into_iter().next().expect("one error");
    assert!(
        d.message
            .contains(&format!("route `{second}` conflicts with route `{first}`")),
        "{d}"
    );
    d
}

#[test]
fn identical_routes_conflict_and_the_later_one_is_blamed() {
    let d = one_conflict(
        "
  - {name: old, match: {path: '/users/{id}'}, service: app}
  - {name: new, match: {path: '/users/{uid}'}, service: app}
",
        "old",
        "new",
    );
    assert_eq!(d.position.path, "routes[1].match");
    assert!(d.message.contains("(routes[0])"), "{d}");
    assert!(d.message.contains("/users/x"), "{d}");
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("exactly the same requests")),
        "{d}"
    );
}

#[test]
fn two_routes_sharing_a_method_on_one_path_conflict() {
    let d = one_conflict(
        "
  - {name: read, match: {path: /o, methods: [GET]}, service: app}
  - {name: read-write, match: {path: /o, methods: [POST, GET]}, service: app}
",
        "read",
        "read-write",
    );
    assert!(d.message.contains("both match GET /o"), "{d}");
}

#[test]
fn a_head_route_conflicts_with_a_get_route_that_serves_head() {
    let d = one_conflict(
        "
  - {name: get, match: {path: /o, methods: [GET]}, service: app}
  - {name: head, match: {path: /o, methods: [HEAD]}, service: app}
",
        "get",
        "head",
    );
    assert!(d.message.contains("both match HEAD /o"), "{d}");
}

#[test]
fn disjoint_methods_do_not_conflict() {
    let c = routes(
        "
  - {name: read, match: {path: /o, methods: [GET]}, service: app}
  - {name: write, match: {path: /o, methods: [POST]}, service: app}
",
    );
    assert_eq!(req("POST", "h", "/o").route(&c).as_deref(), Some("write"));
}

#[test]
fn matchers_on_different_headers_at_one_priority_conflict() {
    // A request can carry both headers, and neither route is more specific.
    let d = one_conflict(
        "
  - name: a
    match: {path: /x, headers: [{name: x-a, exact: '1'}]}
    service: app
  - name: b
    match: {path: /x, headers: [{name: x-b, present: true}]}
    service: app
",
        "a",
        "b",
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("neither is more specific")),
        "{d}"
    );
}

#[test]
fn different_exact_values_of_one_header_do_not_conflict() {
    let c = routes(
        "
  - name: one
    match: {path: /x, headers: [{name: x-h, exact: '1'}]}
    service: app
  - name: two
    match: {path: /x, headers: [{name: x-h, exact: '2'}]}
    service: app
",
    );
    let with = |v| get("/x").header("x-h", v).route(&c);
    assert_eq!(with("1").as_deref(), Some("one"));
    assert_eq!(with("2").as_deref(), Some("two"));
    assert_eq!(with("3"), None);
}

#[test]
fn an_exact_value_outside_a_regex_does_not_conflict_but_one_inside_does() {
    let apart = "
  - name: num
    match: {path: /x, query: [{name: v, regex: '[0-9]+'}]}
    service: app
  - name: word
    match: {path: /x, query: [{name: v, exact: 'beta'}]}
    service: app
";
    let c = routes(apart);
    assert_eq!(get("/x").query("v=12").route(&c).as_deref(), Some("num"));
    assert_eq!(get("/x").query("v=beta").route(&c).as_deref(), Some("word"));
    one_conflict(&apart.replace("'beta'", "'7'"), "num", "word");
}

#[test]
fn the_same_path_on_different_listeners_does_not_conflict() {
    routes(
        "
  - {name: pub, match: {path: /x}, service: app, listeners: [public]}
  - {name: int, match: {path: /x}, service: app, listeners: [internal]}
",
    );
}

#[test]
fn a_conflict_on_every_listener_is_reported_once() {
    let errs = router_errors(
        "
  - {name: a, match: {path: /x}, service: app}
  - {name: b, match: {path: /x}, service: app}
",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
}

#[test]
fn a_dot_segment_pattern_is_refused_as_unreachable() {
    let errs = router_errors("  - {name: dots, match: {path: /a/../b}, service: app}\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let d = &errs[0];
    assert_eq!(d.position.path, "routes[0].match.path");
    assert!(d.message.contains("segment `..` can never match"), "{d}");
    assert!(d.message.contains("`.` or `..` segment"), "{d}");
}

#[test]
fn an_encoded_unreserved_character_is_refused_with_its_decoded_form() {
    let errs = router_errors("  - {name: tilde, match: {path: /%7euser}, service: app}\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let d = &errs[0];
    assert_eq!(d.position.path, "routes[0].match.path");
    assert!(
        d.message.contains("requests are normalised to `~user`"),
        "{d}"
    );
    assert_eq!(d.hint.as_deref(), Some("write `~user`"));
}

#[test]
fn a_malformed_pattern_is_refused_with_a_hint() {
    for (path, says) in [
        ("'/files/{name}.json'", "mixes text and a capture"),
        ("'/{*rest}/x'", "must be the last segment"),
        ("'/{a}/{a}'", "the capture `a` is used twice"),
        ("/a//b", "has an empty segment"),
        ("'/{1x}'", "is not a valid capture"),
    ] {
        let errs = router_errors(&format!(
            "  - {{name: r, match: {{path: {path}}}, service: app}}\n"
        ));
        assert_eq!(errs.len(), 1, "{path}: {errs:?}");
        assert_eq!(errs[0].position.path, "routes[0].match.path", "{path}");
        assert!(errs[0].message.contains(says), "{path}: {}", errs[0]);
        assert!(errs[0].hint.is_some(), "{path}: no hint");
    }
}

#[test]
fn every_broken_route_is_reported_not_just_the_first() {
    let errs = router_errors(
        "
  - {name: a, match: {path: /a/./b}, service: app}
  - {name: ok, match: {path: /fine}, service: app}
  - {name: c, match: {path: '/c/{x}.txt'}, service: app}
",
    );
    let paths: Vec<&str> = errs.iter().map(|d| d.position.path.as_str()).collect();
    assert_eq!(paths, ["routes[0].match.path", "routes[2].match.path"]);
}

#[test]
fn an_empty_methods_list_is_refused_by_the_model() {
    let text = model_errors("  - {name: none, match: {path: /x, methods: []}, service: app}\n");
    assert!(text.contains("routes[0].match.methods (line 7,"), "{text}");
    assert!(
        text.contains("an empty method list matches no request"),
        "{text}"
    );
}

#[test]
fn contradictory_matchers_are_refused_by_the_model() {
    let text = model_errors(
        "
  - name: never
    match:
      path: /x
      headers: [{name: x-h, exact: '1'}, {name: X-H, exact: '2'}]
    service: app
",
    );
    assert!(text.contains("routes[0].match.headers[1]"), "{text}");
    assert!(
        text.contains("matchers [0] and [1] on `x-h` contradict each other"),
        "{text}"
    );
}

#[test]
fn a_required_and_absent_header_contradict() {
    let text = model_errors(
        "
  - name: never
    match: {path: /x, query: [{name: debug, present: true}, {name: debug, present: false}]}
    service: app
",
    );
    assert!(text.contains("contradict each other"), "{text}");
}

#[test]
fn a_route_naming_an_unknown_service_is_refused_with_a_suggestion() {
    let text = model_errors("  - {name: r, match: {path: /x}, service: ap}\n");
    assert!(text.contains("routes[0].service (line 7,"), "{text}");
    assert!(text.contains("no service is named `ap`"), "{text}");
    assert!(text.contains("hint: did you mean `app`?"), "{text}");
}

#[test]
fn conflicts_are_found_in_a_config_without_listeners() {
    let src = "
services: [{name: app}]
routes:
  - {name: a, match: {path: /x}, service: app}
  - {name: b, match: {path: /x}, service: app}
";
    let (config, _) = banyan_model::parse(src).expect("model accepts it");
    let errs = banyan_router::compile(&config).expect_err("the two routes conflict");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .message
            .contains("route `b` conflicts with route `a`"),
        "{}",
        errs[0]
    );
}
