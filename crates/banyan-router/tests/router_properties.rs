//! Properties of the router and the path normaliser over generated inputs.
//!
//! The route generator draws from a deliberately small alphabet (literals `a`, `b`, `c`,
//! `{p}`, `{*t}`, three host forms, GET/POST, one header and one query parameter, each matched
//! exactly, by a regex, as present or as absent) so that routes overlap often and the priority
//! rules, ties and conflicts are exercised, not just misses.

use banyan_model::{Config, ListenerConfig, MatchConfig, RouteConfig, ServiceConfig, ValueMatch};
use banyan_router::table::check;
use banyan_router::{Outcome, RequestView, Route, Router, compile};
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

/// One generated route, before it becomes config.
#[derive(Clone, Debug)]
struct Spec {
    path: String,
    host: Option<&'static str>,
    methods: Option<Vec<&'static str>>,
    /// A matcher on the header `x-h`.
    header: Option<Matcher>,
    /// A matcher on the query parameter `q`.
    query: Option<Matcher>,
}

/// The kinds of value matcher, over values `1`, `2` and `3`.
#[derive(Clone, Debug)]
enum Matcher {
    Exact(&'static str),
    Regex(&'static str),
    Present(bool),
}

fn matcher() -> impl Strategy<Value = Option<Matcher>> {
    prop_oneof![
        4 => Just(None),
        2 => select(vec!["1", "2"]).prop_map(|v| Some(Matcher::Exact(v))),
        1 => select(vec!["[12]", "2|3", "1"]).prop_map(|r| Some(Matcher::Regex(r))),
        1 => any::<bool>().prop_map(|p| Some(Matcher::Present(p))),
    ]
}

fn value_match(name: &str, m: &Matcher) -> ValueMatch {
    let mut v = ValueMatch {
        name: name.into(),
        ..Default::default()
    };
    match m {
        Matcher::Exact(e) => v.exact = Some(e.to_string()),
        Matcher::Regex(r) => v.regex = Some(r.to_string()),
        Matcher::Present(p) => v.present = Some(*p),
    }
    v
}

fn path_pattern() -> impl Strategy<Value = String> {
    // `None` is a `{p}` capture; long patterns spill the lookup's inline capture stack.
    let seg = prop_oneof![3 => select(vec!["a", "b", "c"]).prop_map(Some), 1 => Just(None)];
    let segs = prop_oneof![
        6 => prop::collection::vec(seg.clone(), 0..=3),
        1 => prop::collection::vec(seg, 8..=10),
    ];
    (segs, any::<bool>()).prop_map(|(segs, tail)| {
        let mut p = String::new();
        for (i, s) in segs.iter().enumerate() {
            match s {
                Some(lit) => p.push_str(&format!("/{lit}")),
                None => p.push_str(&format!("/{{p{i}}}")),
            }
        }
        if tail {
            p.push_str("/{*t}");
        }
        if p.is_empty() {
            p.push('/');
        }
        p
    })
}

fn spec(path: impl Strategy<Value = String>) -> impl Strategy<Value = Spec> {
    (
        path,
        select(vec![None, Some("a.example.com"), Some("*.example.com")]),
        select(vec![
            None,
            Some(vec!["GET"]),
            Some(vec!["POST"]),
            Some(vec!["GET", "POST"]),
        ]),
        matcher(),
        matcher(),
    )
        .prop_map(|(path, host, methods, header, query)| Spec {
            path,
            host,
            methods,
            header,
            query,
        })
}

fn route_config(i: usize, s: &Spec) -> RouteConfig {
    RouteConfig {
        name: format!("r{i}"),
        matches: MatchConfig {
            host: s.host.map(String::from),
            methods: s
                .methods
                .as_ref()
                .map(|ms| ms.iter().map(|m| m.to_string()).collect()),
            path: s.path.clone(),
            headers: s.header.iter().map(|m| value_match("x-h", m)).collect(),
            query: s.query.iter().map(|m| value_match("q", m)).collect(),
        },
        service: Some("s".into()),
        respond: None,
        listeners: None,
        rewrite: None,
        timeout: None,
        max_body_bytes: None,
        max_header_bytes: None,
    }
}

fn config(specs: &[Spec]) -> Config {
    Config {
        listeners: vec![ListenerConfig {
            name: "public".into(),
            address: "127.0.0.1:8080".into(),
        }],
        services: vec![ServiceConfig {
            name: "s".into(),
            endpoints: Vec::new(),
            protocol: Default::default(),
            timeouts: Default::default(),
            max_idle_per_endpoint: 1,
        }],
        routes: specs
            .iter()
            .enumerate()
            .map(|(i, s)| route_config(i, s))
            .collect(),
        ..Default::default()
    }
}

/// The router's routes for a set of specs, built without the conflict check.
fn table(specs: &[Spec]) -> Router {
    let routes: Vec<Route> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (route, _) = banyan_router::compile::compile_route(i, &route_config(i, s))
                .unwrap_or_else(|e| panic!("generated route {s:?} refused: {e:?}"));
            route
        })
        .collect();
    Router::new(routes)
}

#[derive(Clone, Debug)]
struct Req {
    method: Method,
    host: &'static str,
    path: String,
    query: Option<&'static str>,
    headers: HeaderMap,
}

impl Req {
    fn view(&self) -> RequestView<'_> {
        RequestView {
            method: &self.method,
            host: self.host,
            path: &self.path,
            query: self.query,
            headers: &self.headers,
        }
    }
}

/// A request path: random, or one that one of `patterns` matches, with its captures filled.
fn request_path(patterns: Vec<String>) -> impl Strategy<Value = String> {
    let seg = || select(vec!["a", "b", "c", "x"]);
    // Mostly as long as the patterns, sometimes past the inline span stack.
    let random = prop_oneof![
        5 => prop::collection::vec(seg(), 0..=4),
        1 => prop::collection::vec(seg(), 8..=11),
    ];
    let matching = (
        select(patterns),
        prop::collection::vec(seg(), 16),
        0..=3usize,
    )
        .prop_map(|(pattern, fill, tail_len)| {
            let mut fill = fill.into_iter();
            let mut segs = Vec::new();
            for part in pattern.split('/').filter(|p| !p.is_empty()) {
                if part.starts_with("{*") {
                    segs.extend(fill.by_ref().take(tail_len));
                } else if part.starts_with('{') {
                    segs.extend(fill.next());
                } else {
                    segs.push(match part {
                        "a" => "a",
                        "b" => "b",
                        _ => "c",
                    });
                }
            }
            segs
        });
    (prop_oneof![1 => random, 2 => matching], any::<bool>()).prop_map(|(segs, trailing_slash)| {
        let mut path = format!("/{}", segs.join("/"));
        if trailing_slash && !segs.is_empty() {
            path.push('/');
        }
        path
    })
}

fn request(patterns: Vec<String>) -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            2 => Just(Method::GET),
            2 => Just(Method::POST),
            1 => Just(Method::HEAD),
            1 => Just(Method::PUT),
        ],
        // Hosts each tier can take or refuse, including an empty first label.
        prop_oneof![
            3 => Just("a.example.com"),
            2 => Just("b.example.com"),
            1 => select(vec!["example.com", "x.a.example.com", ".example.com", "other.org"]),
        ],
        request_path(patterns),
        prop_oneof![
            1 => Just(None),
            2 => Just(Some("1")),
            2 => Just(Some("2")),
            1 => Just(Some("3")),
            1 => Just(Some("")),
        ],
        prop_oneof![
            2 => Just(None),
            2 => select(vec![Some("q=1"), Some("q=2"), Some("q=3")]),
            1 => select(vec![Some("q="), Some("q"), Some("other=1"), Some("q=2&q=1")]),
        ],
    )
        .prop_map(|(method, host, path, header, query)| {
            let mut headers = HeaderMap::new();
            if let Some(v) = header {
                headers.insert("x-h", HeaderValue::from_static(v));
            }
            Req {
                method,
                host,
                path,
                query,
                headers,
            }
        })
}

fn routes_and_requests() -> impl Strategy<Value = (Vec<Spec>, Vec<Req>)> {
    // Routes share a few paths, so that they overlap, tie and conflict often.
    prop::collection::vec(path_pattern(), 1..=3)
        .prop_flat_map(|pool| prop::collection::vec(spec(select(pool)), 1..=6))
        .prop_flat_map(|specs| {
            let patterns = specs.iter().map(|s| s.path.clone()).collect();
            (
                Just(specs),
                prop::collection::vec(request(patterns), 1..=16),
            )
        })
}

/// Failures are saved beside this file, to be committed as regression cases.
fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn names(r: &Router) -> Vec<String> {
    r.routes().iter().map(|r| r.name.clone()).collect()
}

proptest! {
    #![proptest_config(proptest_config(512))]

    /// The trie is the fast path; the linear scan is the documented order. They must agree on
    /// the winner and its captures, and on 405 versus 404 when nothing wins.
    #[test]
    fn lookup_agrees_with_the_linear_scan((specs, reqs) in routes_and_requests()) {
        // Compile rejects conflicting sets; the trie must agree on those too, so check both.
        let compiled = compile(&config(&specs));
        let unchecked = table(&specs);
        let mut tables = vec![&unchecked];
        if let Ok(c) = &compiled {
            tables.push(c.table("public").expect("public table"));
        }
        for t in tables {
            for req in &reqs {
                let view = req.view();
                let explained = t.explain(&view);
                let got = t.lookup(&view);
                match explained.winner {
                    Some((i, caps)) => match &got {
                        Outcome::Matched { id, captures } => {
                            prop_assert_eq!(*id, t.routes()[i].id, "{:?}", req);
                            prop_assert_eq!(captures, &caps, "{:?}", req);
                        }
                        other => prop_assert!(false, "{:?}: lookup {:?}, explain {}", req, other, t.routes()[i].name),
                    },
                    None => {
                        let mut allowed: Vec<Method> = Vec::new();
                        for (_, reason) in &explained.losers {
                            if let banyan_router::Reason::Method(ms) = reason {
                                for m in ms {
                                    if !allowed.contains(m) {
                                        allowed.push(m.clone());
                                    }
                                }
                            }
                        }
                        match got {
                            Outcome::NotFound => prop_assert!(allowed.is_empty(), "{:?}", req),
                            Outcome::MethodNotAllowed(mut ms) => {
                                ms.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                                allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                                prop_assert_eq!(ms, allowed, "{:?}", req);
                            }
                            Outcome::Matched { id, .. } => {
                                prop_assert!(false, "{:?}: lookup took route id {}, explain none", req, id);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The table's order depends only on the routes, never on the order the config lists them.
    #[test]
    fn priority_order_ignores_config_order(
        (specs, shuffled) in prop::collection::vec(spec(path_pattern()), 1..=8)
            .prop_map(|s| s.into_iter().enumerate().collect::<Vec<_>>())
            .prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle()))
    ) {
        // Names follow the spec, not its position, so both tables name the same routes alike.
        let build = |list: &[(usize, Spec)]| {
            let routes: Vec<Route> = list
                .iter()
                .enumerate()
                .map(|(pos, (n, s))| {
                    let mut rc = route_config(*n, s);
                    rc.name = format!("r{n}");
                    banyan_router::compile::compile_route(pos, &rc).expect("route").0
                })
                .collect();
            Router::new(routes)
        };
        let a = build(&specs);
        let b = build(&shuffled);
        prop_assert_eq!(names(&a), names(&b));
        for w in a.routes().windows(2) {
            prop_assert!(w[0].priority() >= w[1].priority(), "{} before {}", w[0].name, w[1].name);
        }
    }

    /// A config that compiles has no request that two routes of equal priority both take:
    /// whatever the conflict check lets through, the order decides.
    #[test]
    fn compiled_tables_have_no_ties((specs, reqs) in routes_and_requests()) {
        let Ok(compiled) = compile(&config(&specs)) else {
            return Ok(());
        };
        let t = compiled.table("public").expect("public table");
        for req in &reqs {
            let view = req.view();
            let takers: Vec<&Route> = t.routes().iter().filter(|r| check(r, &view).is_ok()).collect();
            for (i, a) in takers.iter().enumerate() {
                for b in &takers[i + 1..] {
                    prop_assert!(
                        a.priority() != b.priority(),
                        "{:?} is taken by {} ({}) and {} ({}) at one priority",
                        req, a.name, a.path.raw, b.name, b.path.raw
                    );
                }
            }
        }
    }
}

// The path normaliser's properties, in their own module for size.
#[path = "router_properties/normaliser.rs"]
mod normaliser;

proptest! {
    #![proptest_config(proptest_config(1024))]

    /// Request hosts are checked in one pass on the request path; it must accept exactly the
    /// hosts whose labels all follow the one label rule that route hosts follow too.
    #[test]
    fn the_request_host_check_is_the_label_rule(
        labels in prop::collection::vec("[a-zA-Z0-9_.:%-]{0,5}|[a-z]{60,66}", 0..5),
        dot in prop::bool::ANY,
    ) {
        let mut host = labels.join(".");
        if dot {
            host.push('.');
        }
        let bare = host.strip_suffix('.').unwrap_or(&host);
        let by_labels = bare.split('.').all(banyan_model::validate::is_host_label);
        prop_assert_eq!(banyan_model::validate::is_host_name(bare), by_labels, "{:?}", bare);
        if !host.contains(':') {
            let got = banyan_router::normalize_host(&host);
            let want = (by_labels && bare.len() <= 253).then(|| bare.to_ascii_lowercase());
            prop_assert_eq!(got.as_deref(), want.as_deref(), "{:?}", host);
            // An unchanged host comes back as the start of what was sent.
            if let Some(std::borrow::Cow::Borrowed(b)) = &got {
                prop_assert!(host.starts_with(*b), "{:?}", host);
            }
        }
    }
}
