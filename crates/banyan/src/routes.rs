//! `banyan validate`, `banyan routes` and `banyan routes explain`.

use std::path::Path;
use std::process::ExitCode;

use banyan_model::{Config, Diagnostics};
use banyan_proxy::{PoolRegistry, Snapshot};
use banyan_router::{Outcome, Reason, RequestView, Route, Router, normalize, normalize_host};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::cli::{Explain, ExplainArgs, RoutesArgs};

/// Reads a config file.
pub fn read(path: &Path) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::from(banyan_model::Diagnostic::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        ))
    })
}

/// Reads and compiles a config file as `run` and every reload do, for inspection only.
pub fn load(path: &Path) -> Result<Snapshot, Diagnostics> {
    Snapshot::from_yaml(&read(path)?, &PoolRegistry::default(), 1)
}

fn report(path: &Path, errors: &Diagnostics) -> ExitCode {
    eprintln!("{}: invalid configuration", path.display());
    eprintln!("{errors}");
    ExitCode::from(1)
}

pub fn validate(path: &Path) -> ExitCode {
    match load(path) {
        Ok(s) => {
            let routes = s.config.routes.len();
            println!(
                "{}: valid ({routes} route{}, {} service{})",
                path.display(),
                plural(routes),
                s.config.services.len(),
                plural(s.config.services.len())
            );
            ExitCode::SUCCESS
        }
        Err(e) => report(path, &e),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn routes(args: RoutesArgs) -> ExitCode {
    if let Some(Explain::Explain(e)) = args.explain {
        return explain(e);
    }
    let Some(path) = args.config else {
        eprintln!("banyan routes: --config FILE is required");
        return ExitCode::from(2);
    };
    let snap = match load(&path) {
        Ok(s) => s,
        Err(e) => return report(&path, &e),
    };
    if let Some(l) = &args.listener
        && snap.routes.table(l).is_none()
    {
        let names: Vec<&str> = snap.routes.tables.iter().map(|(n, _)| n.as_str()).collect();
        eprintln!(
            "banyan routes: no listener is named `{l}` (listeners: {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    for (listener, table) in &snap.routes.tables {
        if args.listener.as_ref().is_some_and(|l| l != listener) {
            continue;
        }
        println!(
            "listener {listener}: {} route{}, highest priority first",
            table.routes().len(),
            plural(table.routes().len())
        );
        println!(
            "{:>4}  {:<24} {:<14} {:<22} {:<32} {:<24} target",
            "#", "route", "methods", "host", "path", "matchers"
        );
        for (rank, r) in table.routes().iter().enumerate() {
            println!(
                "{:>4}  {:<24} {:<14} {:<22} {:<32} {:<24} {}",
                rank + 1,
                r.name,
                methods(r),
                r.host.to_string(),
                r.path.raw,
                matchers(r),
                target(&snap.config, r.id)
            );
        }
        println!();
    }
    ExitCode::SUCCESS
}

fn methods(r: &Route) -> String {
    r.methods.as_ref().map_or_else(
        || "*".to_string(),
        |ms| ms.iter().map(Method::as_str).collect::<Vec<_>>().join(","),
    )
}

fn matchers(r: &Route) -> String {
    let all: Vec<String> = r
        .headers
        .iter()
        .map(|h| format!("header {h}"))
        .chain(r.query.iter().map(|q| format!("query {q}")))
        .collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join("; ")
    }
}

fn target(config: &Config, id: usize) -> String {
    let r = &config.routes[id];
    match (&r.service, &r.respond) {
        (Some(s), _) => format!("service {s}"),
        (None, Some(resp)) => format!("respond {}", resp.status),
        _ => "-".into(),
    }
}

fn explain(args: ExplainArgs) -> ExitCode {
    let snap = match load(&args.config) {
        Ok(s) => s,
        Err(e) => return report(&args.config, &e),
    };
    let bad = |m: String| {
        eprintln!("banyan routes explain: {m}");
        ExitCode::from(2)
    };
    let Ok(method) = Method::from_bytes(args.method.as_bytes()) else {
        return bad(format!("`{}` is not an HTTP method", args.method));
    };
    let Ok(uri) = args.url.parse::<http::Uri>() else {
        return bad(format!("`{}` is not a URL", args.url));
    };
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let Some((k, v)) = h.split_once(':') else {
            return bad(format!("`{h}` is not `name: value`"));
        };
        match (
            HeaderName::from_bytes(k.trim().as_bytes()),
            HeaderValue::from_str(v.trim()),
        ) {
            (Ok(k), Ok(v)) => {
                headers.append(k, v);
            }
            _ => return bad(format!("`{h}` is not a valid header")),
        }
    }
    let listener = args
        .listener
        .clone()
        .or_else(|| snap.routes.tables.first().map(|(l, _)| l.clone()));
    let Some(table) = listener.as_deref().and_then(|l| snap.routes.table(l)) else {
        return bad("no such listener".into());
    };
    let host = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get("host").and_then(|h| h.to_str().ok()))
        .and_then(normalize_host)
        .unwrap_or_default();
    println!(
        "{method} {} (listener {})",
        args.url,
        listener.unwrap_or_default()
    );
    let path = match normalize(uri.path()) {
        Ok(p) => p,
        Err(e) => {
            println!("  → 400 Bad Request before routing: {e}");
            return ExitCode::SUCCESS;
        }
    };
    if path != uri.path() {
        println!("  path normalised to {path}");
    }
    let view = RequestView {
        method: &method,
        host: &host,
        path: &path,
        query: uri.query(),
        headers: &headers,
    };
    print_explanation(&snap, table, &view);
    ExitCode::SUCCESS
}

fn print_explanation(snap: &Snapshot, table: &Router, view: &RequestView<'_>) {
    let ex = table.explain(view);
    let routes = table.routes();
    match &ex.winner {
        Some((i, caps)) => {
            let r = &routes[*i];
            println!(
                "  → route `{}` (#{} of {}) → {}",
                r.name,
                i + 1,
                routes.len(),
                target(&snap.config, r.id)
            );
            let names: Vec<String> = r
                .path
                .captures()
                .enumerate()
                .map(|(n, name)| format!("{name}={}", caps.get(view.path, n).unwrap_or("")))
                .collect();
            if !names.is_empty() {
                println!("    captures: {}", names.join(", "));
            }
            if let Some(rw) = &snap.route_info[r.id].rewrite {
                let mut out = String::new();
                rw.apply(view.path, caps, &mut out);
                println!("    forwarded path: {out}");
            }
        }
        None => match table.lookup(view) {
            Outcome::MethodNotAllowed(allow) => {
                // As the gateway's 405 says it: GET implies HEAD.
                let mut a: Vec<_> = allow.iter().map(Method::as_str).collect();
                if a.contains(&"GET") && !a.contains(&"HEAD") {
                    a.push("HEAD");
                }
                println!("  → 405 Method Not Allowed (Allow: {})", a.join(", "));
            }
            _ => println!("  → 404 no route matches"),
        },
    }
    let other_hosts = ex.losers.iter().filter(|(_, r)| *r == Reason::Host).count();
    let nearer: Vec<_> = ex
        .losers
        .iter()
        .filter(|(_, r)| *r != Reason::Host)
        .collect();
    if !nearer.is_empty() {
        println!("  routes ranked above it that did not match:");
        for (i, reason) in nearer {
            let r = &routes[*i];
            let why = match reason {
                Reason::Host => "host does not match".into(),
                Reason::Path => format!("path {} does not match {}", view.path, r.path.raw),
                Reason::Method(ms) => format!(
                    "method {} not in [{}]",
                    view.method,
                    ms.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
                ),
                Reason::Header(m) => format!("header matcher {m} failed"),
                Reason::Query(m) => format!("query matcher {m} failed"),
            };
            println!("    #{:<4} `{}`: {why}", i + 1, r.name);
        }
    }
    if other_hosts > 0 {
        println!(
            "  ({other_hosts} route{} for other hosts ranked above it)",
            plural(other_hosts)
        );
    }
}
