//! Arbitrary requests against a fixed table, along the request path the gateway takes: host
//! and path normalised, then a lookup, the captures read and the rewrite applied. Nothing may
//! panic, and the trie must agree with the linear `explain`.
//!
//! Input: lines `method`, `host`, `path`, `query`, then header names and values, one a line
//! (none of them can hold a newline, so the seeds in `seeds/router_lookup/` are plain text).
#![no_main]

use std::sync::OnceLock;

use banyan_router::{CompiledRoutes, Outcome, Reason, RequestView, normalize, normalize_host};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
listeners:
  - {name: public, address: '127.0.0.1:8080'}
services:
  - {name: app, endpoints: [{url: 'http://127.0.0.1:1'}]}
routes:
  - name: invoice
    match: {host: api.example.com, methods: [GET], path: '/v2/invoices/{id}'}
    service: app
    rewrite: {path: '/invoices/{id}'}
  - name: invoice-create
    match: {host: api.example.com, methods: [POST, PUT], path: /v2/invoices}
    service: app
  - name: canary
    match:
      host: api.example.com
      path: '/v2/products/{*rest}'
      headers: [{name: x-canary, exact: '1'}, {name: x-user, regex: '[a-z]{1,8}'}]
    service: app
    rewrite: {strip_prefix: /v2}
  - name: products
    match: {host: api.example.com, path: '/v2/products/{*rest}'}
    service: app
  - name: tenant
    match: {host: '*.example.com', path: '/t/{tenant}/{*rest}'}
    service: app
    rewrite: {path: '/{rest}/of/{tenant}'}
  - name: search
    match:
      path: /search
      query: [{name: q, present: true}, {name: debug, present: false}, {name: v, exact: '2 x'}]
    service: app
  - name: deep
    match: {path: '/d/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{*rest}'}
    service: app
    rewrite: {path: '/{i}/{h}/{a}/{rest}'}
  - name: users-me
    match: {path: '/users/me/{*rest}'}
    service: app
  - name: user-profile
    match: {path: '/users/{id}/profile', methods: [GET, DELETE]}
    service: app
  - name: slash
    match: {path: /dir/}
    service: app
  - name: monolith
    match: {path: '/{*rest}', headers: [{name: x-monolith, present: false}]}
    service: app
"#;

fn routes() -> &'static CompiledRoutes {
    static ROUTES: OnceLock<CompiledRoutes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let (config, _) = banyan_model::parse(CONFIG).expect("the fixed config is valid");
        banyan_router::compile(&config).expect("the fixed config compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == b'\n');
    let mut next = || fields.next().unwrap_or_default();
    let Ok(method) = Method::from_bytes(next()) else {
        return;
    };
    let raw_host = String::from_utf8_lossy(next()).into_owned();
    let raw_path = String::from_utf8_lossy(next()).into_owned();
    let query = String::from_utf8_lossy(next()).into_owned();
    let mut headers = HeaderMap::new();
    loop {
        let (name, value) = (next(), next());
        if name.is_empty() {
            break;
        }
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    // The gateway refuses what these refuse before routing (400).
    let Some(host) = normalize_host(&raw_host) else {
        return;
    };
    let Ok(path) = normalize(&raw_path) else {
        return;
    };
    let view = RequestView {
        method: &method,
        host: &host,
        path: &path,
        query: (!query.is_empty()).then_some(query.as_str()),
        headers: &headers,
    };
    let c = routes();
    let table = c.table("public").expect("public table");
    let outcome = table.lookup(&view);
    let explained = table.explain(&view);
    match (&outcome, &explained.winner) {
        (Outcome::Matched { id, captures }, Some((i, caps))) => {
            assert_eq!(*id, table.routes()[*i].id, "trie and explain disagree");
            assert_eq!(captures, caps, "trie and explain capture differently");
            for k in 0..captures.len() {
                assert!(captures.get(&path, k).is_some());
            }
            if let Some(rewrite) = &c.rewrites[*id] {
                let mut out = String::new();
                rewrite.apply(&path, captures, &mut out);
                assert!(out.starts_with('/'), "{path} rewritten to {out}");
            }
        }
        (Outcome::MethodNotAllowed(allow), None) => {
            assert!(!allow.is_empty());
            for m in allow {
                let named = explained
                    .losers
                    .iter()
                    .any(|(_, r)| matches!(r, Reason::Method(ms) if ms.contains(m)));
                assert!(named, "405 allows {m}, which explain never names");
            }
        }
        (Outcome::NotFound, None) => {
            let refused_method = explained
                .losers
                .iter()
                .any(|(_, r)| matches!(r, Reason::Method(_)));
            assert!(
                !refused_method,
                "404, but explain refused a route on its method"
            );
        }
        (o, w) => panic!("trie says {o:?}, explain says {w:?}"),
    }
});
