//! Routing as an operator sees it: configs written in YAML, compiled, and asked which route a
//! request takes, what it captures, how it is rewritten, and which configs are refused and why.

use banyan_model::Diagnostic;
use banyan_router::{CompiledRoutes, Outcome, RequestView, compile};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

const PREAMBLE: &str = "\
listeners:
  - {name: public, address: '127.0.0.1:8080'}
  - {name: internal, address: '127.0.0.1:8081'}
services:
  - {name: app, endpoints: [{url: 'http://127.0.0.1:1'}]}
routes:
";

fn yaml(routes: &str) -> String {
    format!("{PREAMBLE}{routes}")
}

/// Compiles routes that must be valid; a refusal fails the test with every error.
fn routes(routes: &str) -> CompiledRoutes {
    let (config, _) = banyan_model::parse(&yaml(routes)).unwrap_or_else(|e| panic!("{e}"));
    compile(&config).unwrap_or_else(|errs| {
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        panic!("{}", text.join("\n"))
    })
}

/// The router's errors for routes the model accepts.
fn router_errors(routes: &str) -> Vec<Diagnostic> {
    let (config, _) = banyan_model::parse(&yaml(routes)).unwrap_or_else(|e| panic!("{e}"));
    match compile(&config) {
        Ok(_) => panic!("compiled, but an error was expected"),
        Err(errs) => errs,
    }
}

/// The model's errors, as `banyan validate` prints them.
fn model_errors(routes: &str) -> String {
    match banyan_model::parse(&yaml(routes)) {
        Ok(_) => panic!("parsed, but an error was expected"),
        Err(errs) => errs.to_string(),
    }
}

struct Req {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

fn req(method: &str, host: &str, path: &str) -> Req {
    Req {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        host: host.into(),
        path: path.into(),
        query: None,
        headers: HeaderMap::new(),
    }
}

impl Req {
    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
        self
    }

    fn query(mut self, q: &str) -> Self {
        self.query = Some(q.into());
        self
    }

    fn lookup_in(&self, c: &CompiledRoutes, listener: &str) -> Outcome {
        let table = c.table(listener).expect("listener table");
        table.lookup(&RequestView {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        })
    }

    fn lookup(&self, c: &CompiledRoutes) -> Outcome {
        self.lookup_in(c, "public")
    }

    /// The name of the route that takes this request on `public`, if any.
    fn route(&self, c: &CompiledRoutes) -> Option<String> {
        match self.lookup(c) {
            Outcome::Matched { id, .. } => Some(name_of(c, id)),
            _ => None,
        }
    }

    /// The captures of the route that takes this request, as strings.
    fn captures(&self, c: &CompiledRoutes) -> Vec<String> {
        match self.lookup(c) {
            Outcome::Matched { captures, .. } => (0..captures.len())
                .map(|i| captures.get(&self.path, i).expect("capture").to_string())
                .collect(),
            other => panic!("{} did not match: {other:?}", self.path),
        }
    }
}

fn name_of(c: &CompiledRoutes, id: usize) -> String {
    let table = c.table("public").expect("public table");
    let route = table
        .routes()
        .iter()
        .find(|r| r.id == id)
        .expect("route id");
    route.name.clone()
}

fn get(path: &str) -> Req {
    req("GET", "api.example.com", path)
}

// The cases live beside this file, one module per concern.
#[path = "routing/captures_and_rewrites.rs"]
mod captures_and_rewrites;
#[path = "routing/priority.rs"]
mod priority;
#[path = "routing/refused_configs.rs"]
mod refused_configs;
