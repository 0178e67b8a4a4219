//! Lookup cost against table size: a small gateway (10 routes) and a large one (10,000), for a
//! hit on a route compiled late into the table and for a miss. A lookup walks one trie per host
//! tier and indexes wide nodes, so the large table should cost about what the small one does.
//!
//! `cargo bench -p banyan-router --bench router -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use banyan_model::{Config, ListenerConfig, MatchConfig, RouteConfig, ServiceConfig};
use banyan_router::{Outcome, RequestView, Router, compile};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method};

/// The hosts services are spread over: exact, wildcard and any.
const HOSTS: [Option<&str>; 3] = [Some("api.example.com"), Some("*.example.com"), None];

/// Each service gets the shapes a real API has: a collection, an item, a sub-collection
/// and a pass-through tail, spread over the hosts.
fn route(i: usize) -> RouteConfig {
    let svc = i / 4;
    let (path, methods) = match i % 4 {
        0 => (format!("/svc{svc}/v1/items"), Some(vec!["GET", "POST"])),
        1 => (format!("/svc{svc}/v1/items/{{id}}"), None),
        2 => (
            format!("/svc{svc}/v1/items/{{id}}/lines"),
            Some(vec!["GET"]),
        ),
        _ => (format!("/svc{svc}/v2/{{*rest}}"), None),
    };
    RouteConfig {
        name: format!("r{i}"),
        matches: MatchConfig {
            host: HOSTS[svc % HOSTS.len()].map(String::from),
            methods: methods.map(|ms| ms.into_iter().map(String::from).collect()),
            path,
            headers: Vec::new(),
            query: Vec::new(),
        },
        service: Some("app".into()),
        respond: None,
        listeners: None,
        rewrite: None,
        timeout: None,
        max_body_bytes: None,
        max_header_bytes: None,
    }
}

fn table(n: usize) -> Router {
    let config = Config {
        listeners: vec![ListenerConfig {
            name: "public".into(),
            address: "127.0.0.1:8080".into(),
        }],
        services: vec![ServiceConfig {
            name: "app".into(),
            endpoints: Vec::new(),
            protocol: Default::default(),
            timeouts: Default::default(),
            max_idle_per_endpoint: 1,
        }],
        routes: (0..n).map(route).collect(),
        ..Default::default()
    };
    let mut compiled = match compile(&config) {
        Ok(c) => c,
        Err(errs) => panic!("benchmark routes refused: {errs:?}"),
    };
    compiled.tables.remove(0).1
}

/// A request for an item of the last service whose routes sit on the any-host tier, sent to
/// an exact host: the lookup misses the exact and wildcard tries first.
fn deep_hit(n: usize) -> String {
    let svc = (0..n.div_ceil(4))
        .rev()
        .find(|s| HOSTS[s % HOSTS.len()].is_none() && s * 4 + 1 < n)
        .expect("an any-host service");
    format!("/svc{svc}/v1/items/42")
}

fn bench_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    let headers = HeaderMap::new();
    for n in [10, 10_000] {
        let router = table(n);
        let hit = deep_hit(n);
        let cases = [("hit", hit.as_str()), ("miss", "/nope/v1/items/42")];
        for (what, path) in cases {
            let req = RequestView {
                method: &Method::GET,
                host: "api.example.com",
                path,
                query: None,
                headers: &headers,
            };
            let expect_hit = what == "hit";
            assert_eq!(
                matches!(router.lookup(&req), Outcome::Matched { .. }),
                expect_hit,
                "{what} {path} in {n} routes"
            );
            group.bench_with_input(BenchmarkId::new(what, n), &req, |b, req| {
                b.iter(|| router.lookup(black_box(req)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_lookup);
criterion_main!(benches);
