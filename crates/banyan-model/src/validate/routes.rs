//! Semantic checks on routes: targets, hosts, methods, header and query matchers.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{REGEX_SIZE_LIMIT, Unparsed, check_name, unique};
use crate::config::{Config, RouteConfig, ValueMatch};
use crate::diag::{Diagnostic, did_you_mean};

/// The methods a route may name without a hint (others are accepted when they are tokens).
const KNOWN_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
];

pub(super) fn check_routes(config: &Config, unparsed: &Unparsed, out: &mut Vec<Diagnostic>) {
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
