//! The compiled, immutable configuration the request path reads (layer c): routers built,
//! regexes compiled, services resolved to `Arc`s. Built off the request path, swapped whole.

use std::sync::Arc;
use std::time::Duration;

use banyan_model::net::{Cidr, parse_endpoint_url};
use banyan_model::{Config, Diagnostic, Diagnostics, Document, HostRewrite};
use banyan_router::{CompiledRoutes, Rewrite};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::sanitize::HeaderPolicy;
use crate::upstream::{Endpoint, PoolKey, PoolRegistry, Service, ServiceRef, TransportKey};

/// Where a route sends its requests.
pub enum Target {
    Service(ServiceRef),
    Respond {
        status: StatusCode,
        body: Bytes,
        content_type: HeaderValue,
    },
}

/// Everything the request path needs of one route, indexed like `config.routes`.
pub struct RouteInfo {
    pub name: String,
    pub target: Target,
    pub rewrite: Option<Rewrite>,
    pub host: HostRewrite,
    pub timeout: Duration,
    pub max_body: u64,
    pub max_header_bytes: u64,
}

/// Client-side limits, from `server:`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_uri: u64,
    pub max_headers: usize,
    pub max_header_bytes: u64,
}

pub struct Snapshot {
    pub revision: u64,
    pub config: Arc<Config>,
    pub routes: CompiledRoutes,
    pub route_info: Vec<RouteInfo>,
    /// Shared with request bodies, which put their trailers through it.
    pub policy: Arc<HeaderPolicy>,
    pub limits: Limits,
}

impl Snapshot {
    /// Compiles a config that parsed; every error is returned, located through `doc`.
    pub fn compile(
        config: Config,
        doc: &Document,
        pools: &PoolRegistry,
        revision: u64,
    ) -> Result<Snapshot, Diagnostics> {
        let routes = banyan_router::compile(&config).map_err(|errs| {
            let mut d = Diagnostics(errs.into_iter().map(|e| doc.resolve(e)).collect());
            d.sort();
            d
        })?;
        let server = &config.server;
        let services: Vec<ServiceRef> = config
            .services
            .iter()
            .map(|s| {
                let transport = TransportKey {
                    protocol: s.protocol,
                    connect_timeout: s
                        .timeouts
                        .connect
                        .map_or(Duration::from_secs(1), |d| d.get()),
                    idle_timeout: s.timeouts.idle.map_or(Duration::from_secs(90), |d| d.get()),
                    max_idle: s.max_idle_per_endpoint,
                };
                let endpoints = s
                    .endpoints
                    .iter()
                    .filter_map(|e| {
                        let u = parse_endpoint_url(&e.url).ok()?;
                        let pool = pools.get(&PoolKey {
                            transport: transport.clone(),
                            authority: u.authority.clone(),
                        });
                        Some((
                            Endpoint {
                                pool,
                                host: HeaderValue::from_str(
                                    u.authority.strip_suffix(":80").unwrap_or(&u.authority),
                                )
                                .ok()?,
                                authority: u.authority,
                                base_path: u.base_path,
                            },
                            e.weight,
                        ))
                    })
                    .collect();
                let timeout = s.timeouts.request.unwrap_or(server.request_timeout).get();
                Arc::new(Service::new(s.name.clone(), endpoints, transport, timeout))
            })
            .collect();
        let mut route_info = Vec::with_capacity(config.routes.len());
        for (i, r) in config.routes.iter().enumerate() {
            let target = match (&r.service, &r.respond) {
                (Some(name), _) => {
                    let svc = services.iter().find(|s| &s.name == name).ok_or_else(|| {
                        Diagnostics::from(doc.resolve(Diagnostic::new(
                            format!("routes[{i}].service"),
                            format!("no service is named `{name}`"),
                        )))
                    })?;
                    Target::Service(svc.clone())
                }
                (None, Some(resp)) => Target::Respond {
                    status: StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK),
                    body: Bytes::from(resp.body.clone()),
                    content_type: HeaderValue::from_str(&resp.content_type).map_err(|_| {
                        Diagnostics::from(doc.resolve(Diagnostic::new(
                            format!("routes[{i}].respond.content_type"),
                            "not a valid header value",
                        )))
                    })?,
                },
                (None, None) => unreachable_target(i, doc)?,
            };
            let timeout = match (&r.timeout, &target) {
                (Some(t), _) => t.get(),
                (None, Target::Service(s)) => s.request_timeout,
                (None, _) => server.request_timeout.get(),
            };
            route_info.push(RouteInfo {
                name: r.name.clone(),
                target,
                rewrite: routes.rewrites[i].clone(),
                host: r
                    .rewrite
                    .as_ref()
                    .and_then(|rw| rw.host)
                    .unwrap_or_default(),
                timeout,
                max_body: r.max_body_bytes.unwrap_or(server.max_body_bytes).get(),
                max_header_bytes: r.max_header_bytes.unwrap_or(server.max_header_bytes).get(),
            });
        }
        let policy = HeaderPolicy {
            identity_prefix: server.identity_header_prefix.clone(),
            trusted_proxies: server
                .trusted_proxies
                .iter()
                .filter_map(|c| c.parse::<Cidr>().ok())
                .collect(),
        };
        let limits = Limits {
            max_uri: server.max_uri_bytes.get(),
            max_headers: server.max_headers,
            max_header_bytes: server.max_header_bytes.get(),
        };
        Ok(Snapshot {
            revision,
            config: Arc::new(config),
            routes,
            route_info,
            policy: Arc::new(policy),
            limits,
        })
    }

    /// The pool of every endpoint a route can reach, to prune the others after a swap.
    pub fn pool_keys(&self) -> Vec<PoolKey> {
        self.route_info
            .iter()
            .filter_map(|r| match &r.target {
                Target::Service(s) => Some(s),
                Target::Respond { .. } => None,
            })
            .flat_map(|s| {
                s.endpoints.iter().map(|e| PoolKey {
                    transport: s.transport.clone(),
                    authority: e.authority.clone(),
                })
            })
            .collect()
    }

    /// Parses and compiles config text: what `banyan validate` and every reload run. Returns
    /// every error: the model's and the router's together.
    pub fn from_yaml(
        src: &str,
        pools: &PoolRegistry,
        revision: u64,
    ) -> Result<Snapshot, Diagnostics> {
        let partial = banyan_model::parse_partial(src)?;
        if partial.errors.is_empty() {
            return Snapshot::compile(partial.config, &partial.doc, pools, revision);
        }
        Err(with_router_errors(partial))
    }
}

/// The model found errors; the router's checks (path patterns, rewrites, conflicts) still run
/// on the routes that parsed, so that an operator sees every error in one pass instead of a
/// second batch after fixing the first.
fn with_router_errors(partial: banyan_model::Partial) -> Diagnostics {
    let banyan_model::Partial {
        mut config,
        doc,
        mut errors,
        broken_matches,
    } = partial;
    // A route whose matchers the model refused is served on no listener here: its own pattern
    // is still checked, but it takes no part in conflicts it could only have by its broken
    // matchers being dropped.
    for i in broken_matches {
        if let Some(r) = config.routes.get_mut(i) {
            r.listeners = Some(Vec::new());
        }
    }
    if let Err(more) = banyan_router::compile(&config) {
        for d in more {
            let d = doc.resolve(d);
            if !errors
                .iter()
                .any(|e| e.position == d.position && e.message == d.message)
            {
                errors.push(d);
            }
        }
    }
    errors.sort();
    errors
}

fn unreachable_target<T>(i: usize, doc: &Document) -> Result<T, Diagnostics> {
    Err(Diagnostics::from(doc.resolve(Diagnostic::new(
        format!("routes[{i}]"),
        "a route needs a `service` or a `respond`",
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_errors_are_reported_with_the_models() {
        let src = "\
listeners: [{name: public, address: '127.0.0.1:8080'}]
services:
  - name: app
    endpoints: [{url: 'http://127.0.0.1:1'}]
routes:
  - name: missing
    match: {path: /m}
    service: nowhere
  - name: one
    match: {path: '/u/{id}'}
    service: app
  - name: two
    match: {path: '/u/{name}'}
    service: app
  - name: broken-a
    match: {path: /h, headers: [{name: x, regex: '('}]}
    service: app
  - name: plain
    match: {path: /h}
    service: app
";
        let errors = match Snapshot::from_yaml(src, &PoolRegistry::default(), 1) {
            Ok(_) => panic!("invalid config accepted"),
            Err(e) => e,
        };
        let paths: Vec<_> = errors.iter().map(|d| d.position.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "routes[0].service",
                "routes[2].match",
                "routes[3].match.headers[0].regex"
            ],
            "{errors}"
        );
    }
}
