//! Semantic checks on a parsed [`Config`]: names, references, addresses, matchers.
//! Path patterns, priorities and conflicts are the router's to check (`banyan-router`).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use crate::config::{Config, RouteConfig, ValueMatch};
use crate::diag::{Diagnostic, did_you_mean};
use crate::net::{Cidr, parse_endpoint_url};

/// Regexes in matchers are compiled with this size limit, so that a pattern with a
/// catastrophic automaton is refused at load time, not paid for per request.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The methods a route may name without a hint (others are accepted when they are tokens).
const KNOWN_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
];

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

fn check_routes(config: &Config, unparsed: &Unparsed, out: &mut Vec<Diagnostic>) {
    let services: Vec<&str> = config
        .services
        .iter()
        .map(|s| s.name.as_str())
        .chain(unparsed.services.iter().map(String::as_str))
        .collect();
    let listeners: Vec<&str> = config
        .listeners
        .iter()
        .map(|l| l.name.as_str())
        .chain(unparsed.listeners.iter().map(String::as_str))
        .collect();
    for (i, r) in config.routes.iter().enumerate() {
        let at = |f: &str| format!("routes[{i}].{f}");
        check_name(&at("name"), &r.name, out);
        check_target(r, i, &services, out);
        if let Some(ls) = &r.listeners {
            if ls.is_empty() {
                out.push(
                    Diagnostic::new(at("listeners"), "an empty list serves this route nowhere")
                        .hint("leave `listeners` out to serve the route on every listener"),
                );
            }
            for (j, l) in ls.iter().enumerate() {
                if !listeners.contains(&l.as_str()) {
                    let mut d = Diagnostic::new(
                        format!("routes[{i}].listeners[{j}]"),
                        format!("no listener is named `{l}`"),
                    );
                    d.hint = Some(match did_you_mean(l, listeners.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("listeners: {}", listeners.join(", ")),
                    });
                    out.push(d);
                }
            }
        }
        check_host(&at("match.host"), r.matches.host.as_deref(), out);
        check_methods(&at("match.methods"), r.matches.methods.as_deref(), out);
        check_value_matches(&at("match.headers"), &r.matches.headers, true, out);
        for (j, m) in r.matches.headers.iter().enumerate() {
            if let Some(why) = crate::headers::removed_before_routing(
                &m.name,
                &config.server.identity_header_prefix,
            ) {
                out.push(
                    Diagnostic::new(
                        format!("routes[{i}].match.headers[{j}].name"),
                        format!(
                            "a matcher on `{}` can never see what the client sent: {why}",
                            m.name
                        ),
                    )
                    .hint("match on a header the client may set, or leave this matcher out"),
                );
            }
        }
        check_value_matches(&at("match.query"), &r.matches.query, false, out);
        if r.timeout.is_some_and(|d| d.get().is_zero()) {
            out.push(Diagnostic::new(at("timeout"), "must be longer than 0s"));
        }
        if let Some(h) = r.max_header_bytes
            && h > config.server.max_header_bytes
        {
            out.push(
                Diagnostic::new(at("max_header_bytes"), format!("{h} is larger than server.max_header_bytes ({})", config.server.max_header_bytes))
                    .hint("a route can only lower the header limit: the head is read before the route is known"),
            );
        }
    }
    unique(
        "routes",
        config.routes.iter().map(|r| r.name.as_str()),
        "route",
        out,
    );
}

fn check_target(r: &RouteConfig, i: usize, services: &[&str], out: &mut Vec<Diagnostic>) {
    match (&r.service, &r.respond) {
        (Some(_), Some(_)) => out.push(
            Diagnostic::new(
                format!("routes[{i}]"),
                "a route has either `service` or `respond`, not both",
            )
            .hint("remove one of them"),
        ),
        (None, None) => out.push(
            Diagnostic::new(
                format!("routes[{i}]"),
                "a route needs a `service` or a `respond`",
            )
            .hint("add `service: NAME` to proxy, or `respond: {status: 200, body: ...}`"),
        ),
        (Some(s), None) if !services.contains(&s.as_str()) => {
            let mut d = Diagnostic::new(
                format!("routes[{i}].service"),
                format!("no service is named `{s}`"),
            );
            d.hint = Some(match did_you_mean(s, services.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None if services.is_empty() => "define it under `services:`".to_string(),
                None => format!("services: {}", services.join(", ")),
            });
            out.push(d);
        }
        (None, Some(resp)) if !(200..=599).contains(&resp.status) => out.push(
            Diagnostic::new(
                format!("routes[{i}].respond.status"),
                format!("{} is not a final HTTP status", resp.status),
            )
            .hint("use a status from 200 to 599"),
        ),
        _ => {}
    }
}

/// One label of a host name, as both route hosts and request hosts must spell it: 1 to 63
/// letters, digits, `-` or `_` (many internal names use `_`, so requests carry it too).
pub fn is_host_label(label: &str) -> bool {
    !label.is_empty() && label.len() <= 63 && label.bytes().all(is_label_byte)
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether every dot-separated label of `host` is a [host label](is_host_label), in one pass
/// over the bytes (it runs on every request).
pub fn is_host_name(host: &str) -> bool {
    let mut label = 0usize;
    for b in host.bytes() {
        if b == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if is_label_byte(b) && label < 63 {
            label += 1;
        } else {
            return false;
        }
    }
    label > 0
}

/// Checks a route host: `api.example.com`, `*.example.com` or `*`.
pub fn check_host(path: &str, host: Option<&str>, out: &mut Vec<Diagnostic>) {
    let Some(host) = host else { return };
    if host == "*" {
        return;
    }
    let bare = host.strip_prefix("*.").unwrap_or(host);
    let mut err = |msg: String, hint: &str| out.push(Diagnostic::new(path, msg).hint(hint));
    if host.contains(':') && host.parse::<IpAddr>().is_err() {
        err(
            format!("`{host}` has a port"),
            "hosts are matched without the port: remove `:PORT`",
        );
    } else if host.ends_with('.') {
        err(
            format!("`{host}` ends with a dot"),
            "requests are matched with the trailing dot removed: remove it",
        );
    } else if bare.contains('*') {
        err(
            format!("`{host}` is not a valid host pattern"),
            "a wildcard is only allowed as the whole first label: `*.example.com`",
        );
    } else if bare.is_empty() || bare.len() > 253 || !bare.split('.').all(is_host_label) {
        err(
            format!("`{host}` is not a valid host name"),
            "use letters, digits, `-`, `_` and dots, like api.example.com",
        );
    }
}

fn check_methods(path: &str, methods: Option<&[String]>, out: &mut Vec<Diagnostic>) {
    let Some(methods) = methods else { return };
    if methods.is_empty() {
        out.push(
            Diagnostic::new(
                path,
                "an empty method list matches no request: the route can never be reached",
            )
            .hint("leave `methods` out to match every method"),
        );
    }
    let mut seen = HashSet::new();
    for (j, m) in methods.iter().enumerate() {
        let p = format!("{path}[{j}]");
        if !seen.insert(m) {
            out.push(Diagnostic::new(p, format!("method {m} is listed twice")));
        } else if m == "CONNECT" {
            out.push(Diagnostic::new(
                p,
                "CONNECT requests are refused by the gateway: this method can never be reached",
            ));
        } else if http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
            out.push(Diagnostic::new(p, format!("`{m}` is not an HTTP method")));
        } else if !KNOWN_METHODS.contains(&m.as_str()) {
            let upper = m.to_ascii_uppercase();
            if KNOWN_METHODS.contains(&upper.as_str()) {
                out.push(
                    Diagnostic::new(
                        p,
                        format!("`{m}` is not `{upper}`: methods are case-sensitive"),
                    )
                    .hint(format!("write {upper}")),
                );
            }
        }
    }
}

fn check_value_matches(
    path: &str,
    matches: &[ValueMatch],
    header: bool,
    out: &mut Vec<Diagnostic>,
) {
    for (j, m) in matches.iter().enumerate() {
        let p = format!("{path}[{j}]");
        let set = usize::from(m.exact.is_some())
            + usize::from(m.regex.is_some())
            + usize::from(m.present.is_some());
        if set != 1 {
            out.push(
                Diagnostic::new(
                    &p,
                    "a matcher needs exactly one of `exact`, `regex` and `present`",
                )
                .hint("e.g. `{name: x-canary, exact: \"1\"}` or `{name: x-debug, present: true}`"),
            );
        }
        if header && http::HeaderName::from_bytes(m.name.as_bytes()).is_err() {
            out.push(Diagnostic::new(
                format!("{p}.name"),
                format!("`{}` is not a valid header name", m.name),
            ));
        }
        if !header && m.name.is_empty() {
            out.push(Diagnostic::new(
                format!("{p}.name"),
                "a query parameter name cannot be empty",
            ));
        }
        if let Some(re) = &m.regex
            && let Err(e) = compile_regex(re)
        {
            out.push(
                Diagnostic::new(format!("{p}.regex"), e)
                    .hint("the regex crate's syntax: no look-around or back-references"),
            );
        }
    }
    // Contradictions make a route unreachable: two different exact values, or absent + anything.
    let norm = |n: &str| {
        if header {
            n.to_ascii_lowercase()
        } else {
            n.to_string()
        }
    };
    for (a, ma) in matches.iter().enumerate() {
        for (b, mb) in matches.iter().enumerate().skip(a + 1) {
            if norm(&ma.name) != norm(&mb.name) {
                continue;
            }
            let contradicts = match (ma, mb) {
                (ValueMatch { exact: Some(x), .. }, ValueMatch { exact: Some(y), .. }) => x != y,
                (
                    ValueMatch {
                        present: Some(false),
                        ..
                    },
                    _,
                )
                | (
                    _,
                    ValueMatch {
                        present: Some(false),
                        ..
                    },
                ) => true,
                _ => false,
            };
            let msg = if contradicts {
                format!(
                    "matchers [{a}] and [{b}] on `{}` contradict each other: the route can never be reached",
                    ma.name
                )
            } else {
                format!("`{}` is matched twice", ma.name)
            };
            out.push(Diagnostic::new(format!("{path}[{b}]"), msg).hint("use one matcher per name"));
        }
    }
}

/// Compiles a matcher regex the way the router does: anchored, size-limited.
pub fn compile_regex(re: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{re})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                "this regex is too large to compile cheaply".to_string()
            }
            other => {
                let text = other.to_string();
                let last = text.lines().last().unwrap_or("syntax error");
                format!("invalid regex: {}", last.trim_start_matches("error: "))
            }
        })
}
