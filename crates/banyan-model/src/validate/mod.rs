//! Semantic checks on a parsed [`Config`]: names, references, addresses, matchers.
//! Path patterns, priorities and conflicts are the router's to check (`banyan-router`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::config::Config;
use crate::diag::Diagnostic;
use crate::net::{Cidr, parse_endpoint_url};

/// Regexes in matchers are compiled with this size limit, so that a pattern with a
/// catastrophic automaton is refused at load time, not paid for per request.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Checks everything the model alone can know. Paths use indices into `config`'s lists.
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    validate_with(config, &Unparsed::default())
}

/// Names of list items that are in the file but failed to parse (and so are missing from the
/// typed config). Their own errors are already reported; a reference to one of them is not
/// reported again as a reference to nothing.
#[derive(Clone, Debug, Default)]
pub struct Unparsed {
    pub listeners: Vec<String>,
    pub services: Vec<String>,
}

/// [`validate`], for a config some of whose list items failed to parse.
pub fn validate_with(config: &Config, unparsed: &Unparsed) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    check_listeners(config, &mut out);
    check_server(config, &mut out);
    check_services(config, &mut out);
    check_routes(config, unparsed, &mut out);
    out
}

/// A name for a listener, service or route: it appears in logs, metrics labels and URLs.
pub fn check_name(path: &str, name: &str, out: &mut Vec<Diagnostic>) {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if !ok {
        out.push(
            Diagnostic::new(path, format!("`{name}` is not a valid name"))
                .hint("use 1 to 128 letters, digits, `-`, `_` or `.`, not starting with `.`"),
        );
    }
}

fn unique<'a>(
    section: &str,
    names: impl Iterator<Item = &'a str>,
    what: &str,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, n) in names.enumerate() {
        if let Some(first) = seen.insert(n, i) {
            out.push(
                Diagnostic::new(
                    format!("{section}[{i}].name"),
                    format!("duplicate {what} name `{n}`"),
                )
                .hint(format!(
                    "{section}[{first}] already uses this name; names must be unique"
                )),
            );
        }
    }
}

fn check_listeners(config: &Config, out: &mut Vec<Diagnostic>) {
    let mut addrs: HashMap<SocketAddr, usize> = HashMap::new();
    for (i, l) in config.listeners.iter().enumerate() {
        check_name(&format!("listeners[{i}].name"), &l.name, out);
        match l.address.parse::<SocketAddr>() {
            Ok(a) => {
                if let Some(first) = addrs.insert(a, i) {
                    out.push(
                        Diagnostic::new(
                            format!("listeners[{i}].address"),
                            format!("address {a} is already used"),
                        )
                        .hint(format!("listeners[{first}] listens there")),
                    );
                }
            }
            Err(_) => out.push(address_error(
                &format!("listeners[{i}].address"),
                &l.address,
            )),
        }
    }
    unique(
        "listeners",
        config.listeners.iter().map(|l| l.name.as_str()),
        "listener",
        out,
    );
    if config.admin.enabled {
        match config.admin.address.parse::<SocketAddr>() {
            Ok(a) if addrs.contains_key(&a) => out.push(
                Diagnostic::new("admin.address", format!("address {a} is also a listener's"))
                    .hint("the admin API must never be reachable through a data-plane listener"),
            ),
            Ok(_) => {}
            Err(_) => out.push(address_error("admin.address", &config.admin.address)),
        }
    }
    if let Some(n) = config.runtime.worker_threads
        && !(1..=1024).contains(&n)
    {
        out.push(
            Diagnostic::new("runtime.worker_threads", "must be between 1 and 1024")
                .hint("leave it out for one thread per core"),
        );
    }
}

fn address_error(path: &str, value: &str) -> Diagnostic {
    Diagnostic::new(path, format!("`{value}` is not an `ip:port` address")).hint(
        "write e.g. 0.0.0.0:8080, 127.0.0.1:9901 or [::]:8080; host names are not resolved here",
    )
}

fn check_server(config: &Config, out: &mut Vec<Diagnostic>) {
    let s = &config.server;
    for (field, d) in [
        ("header_read_timeout", s.header_read_timeout),
        ("idle_timeout", s.idle_timeout),
        ("request_timeout", s.request_timeout),
    ] {
        if d.get().is_zero() {
            out.push(Diagnostic::new(
                format!("server.{field}"),
                "must be longer than 0s",
            ));
        }
    }
    if !(1024..=1024 * 1024).contains(&s.max_header_bytes.get()) {
        out.push(Diagnostic::new(
            "server.max_header_bytes",
            "must be between 1KiB and 1MiB",
        ));
    }
    if !(1..=1000).contains(&s.max_headers) {
        out.push(Diagnostic::new(
            "server.max_headers",
            "must be between 1 and 1000",
        ));
    }
    // hyper carries at most 65,534 bytes of request target.
    if !(256..=64 * 1024 - 2).contains(&s.max_uri_bytes.get()) {
        out.push(Diagnostic::new(
            "server.max_uri_bytes",
            "must be between 256 and 65534 bytes (64KiB less 2)",
        ));
    }
    for (i, p) in s.trusted_proxies.iter().enumerate() {
        if let Err(e) = p.parse::<Cidr>() {
            out.push(
                Diagnostic::new(format!("server.trusted_proxies[{i}]"), e)
                    .hint("write an address (10.0.0.1) or a CIDR range (10.0.0.0/8)"),
            );
        }
    }
    let prefix = &s.identity_header_prefix;
    if prefix.len() < 3
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        out.push(
            Diagnostic::new(
                "server.identity_header_prefix",
                format!("`{prefix}` is not a usable header prefix"),
            )
            .hint("use at least 3 lowercase letters, digits or `-`, like `x-banyan-`"),
        );
    } else if let Some(name) = crate::headers::PROTECTED
        .iter()
        .find(|n| crate::headers::starts_with_name(n, prefix))
    {
        // The namespace is removed from every request: it must not take a field the gateway
        // frames or routes by.
        out.push(
            Diagnostic::new(
                "server.identity_header_prefix",
                format!("`{prefix}` would remove every client's `{name}` header"),
            )
            .hint("use a prefix of your own, like `x-banyan-` or `x-acme-identity-`"),
        );
    }
}

fn check_services(config: &Config, out: &mut Vec<Diagnostic>) {
    for (i, svc) in config.services.iter().enumerate() {
        check_name(&format!("services[{i}].name"), &svc.name, out);
        let mut seen = HashSet::new();
        for (j, ep) in svc.endpoints.iter().enumerate() {
            let path = format!("services[{i}].endpoints[{j}].url");
            match parse_endpoint_url(&ep.url) {
                Ok(u) => {
                    if !seen.insert(u.authority.clone()) {
                        out.push(
                            Diagnostic::new(
                                &path,
                                format!("endpoint {} is listed twice", u.authority),
                            )
                            .hint("use `weight` to give an endpoint a larger share"),
                        );
                    }
                }
                Err((msg, hint)) => out.push(Diagnostic::new(path, msg).hint(hint)),
            }
        }
        let t = &svc.timeouts;
        for (field, d) in [
            ("connect", t.connect),
            ("request", t.request),
            ("idle", t.idle),
        ] {
            if d.is_some_and(|d| d.get().is_zero()) {
                out.push(Diagnostic::new(
                    format!("services[{i}].timeouts.{field}"),
                    "must be longer than 0s",
                ));
            }
        }
    }
    unique(
        "services",
        config.services.iter().map(|s| s.name.as_str()),
        "service",
        out,
    );
}

mod routes;

use routes::check_routes;
pub use routes::{check_host, compile_regex, is_host_label, is_host_name};
