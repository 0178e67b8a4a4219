//! The names the gateway's header policy acts on, shared by validation (a route may not match
//! on a header the gateway removes before routing) and the data plane's sanitizer.

/// Hop-by-hop headers (RFC 9110 7.6.1 and the usual extras); never forwarded either way.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// Client headers that ask a backend framework to re-route or re-method the request, or that
/// claim a client address: the gateway decided those already.
pub const OVERRIDES: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
    "x-original-method",
];

/// Forwarding headers: believed only from trusted proxies.
pub const FORWARDING: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-real-ip",
];

/// Headers the `Connection` header may not nominate for removal: framing and routing.
pub const PROTECTED: &[&str] = &["host", "content-length", "x-request-id"];

/// Compares a header name with `-` and `_` treated alike: many stacks (CGI, WSGI, nginx with
/// `underscores_in_headers`) turn `x_banyan_consumer` into the same variable as
/// `x-banyan-consumer`.
pub fn same_name(name: &str, target: &str) -> bool {
    name.len() == target.len()
        && name
            .bytes()
            .zip(target.bytes())
            .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
}

pub fn starts_with_name(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len() && same_name(&name[..prefix.len()], prefix)
}

/// Why a client-sent header never reaches routing, or `None` when it may. Forwarding headers
/// are kept from trusted proxies, so they may be matched.
pub fn removed_before_routing(name: &str, identity_prefix: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    if starts_with_name(&name, identity_prefix) {
        Some("the gateway removes client-sent headers in its identity namespace")
    } else if HOP_BY_HOP.contains(&name.as_str()) {
        Some("hop-by-hop headers are removed before routing")
    } else if OVERRIDES.iter().any(|o| same_name(&name, o)) {
        Some("method-override and rewrite-URL headers are removed before routing")
    } else {
        None
    }
}
