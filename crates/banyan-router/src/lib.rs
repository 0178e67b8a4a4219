//! Banyan's router: compiles routes into a matcher over host, method, path, headers and query,
//! with a documented total priority order, conflict detection and `explain`.
//!
//! Pure: no I/O, no async runtime. Depends only on the model. Benchmarked (`benches/router.rs`),
//! property-tested (`tests/router_properties.rs`) and fuzzed (`fuzz/`).
#![forbid(unsafe_code)]

use std::borrow::Cow;

pub mod compile;
pub mod path;
pub mod pattern;
pub mod table;

pub use compile::{CompiledRoutes, Rewrite, compile};
pub use path::{PathError, normalize};
pub use pattern::{HostPattern, PathPattern};
pub use table::{Captures, Explanation, Outcome, Reason, RequestView, Route, Router, Spans};

/// Lower-cases a request host and removes its port and a trailing dot, the form routes are
/// matched against. Returns `None` for a host that is not a valid name or address: a host is
/// a bracketed IPv6 literal or dot-separated non-empty labels, followed by at most one `:port`,
/// so that no backend can read another host (or port) out of what was routed.
///
/// A host already in lower case comes back borrowed: the start of `authority`.
pub fn normalize_host(authority: &str) -> Option<Cow<'_, str>> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        // [v6] or [v6]:port
        let end = rest.find(']')?;
        let v6 = &rest[..end];
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let port = match &rest[end + 1..] {
            "" => "",
            after => after.strip_prefix(':')?,
        };
        (&authority[..end + 2], port)
    } else {
        // A byte scan: hosts are short, and `str::split_once` sets up a searcher.
        let (h, port) = match authority.bytes().position(|b| b == b':') {
            Some(i) => (&authority[..i], &authority[i + 1..]),
            None => (authority, ""),
        };
        let h = h.strip_suffix('.').unwrap_or(h);
        if !banyan_model::validate::is_host_name(h) {
            return None;
        }
        (h, port)
    };
    // Digits only (`u16::from_str` would take a leading `+`), at most 65535.
    let port_ok = port.len() <= 5
        && port
            .bytes()
            .try_fold(0u32, |n, b| {
                b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
            })
            .is_some_and(|n| n <= 65535);
    if host.is_empty() || host.len() > 253 || !port_ok {
        return None;
    }
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(
            normalize_host("API.Example.com:8080").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            normalize_host("api.example.com.").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(normalize_host("[::1]:80").as_deref(), Some("[::1]"));
        // URIs allow an empty port.
        assert_eq!(normalize_host("a.example:").as_deref(), Some("a.example"));
        assert_eq!(
            normalize_host("a.example:08080").as_deref(),
            Some("a.example")
        );
        assert_eq!(normalize_host("a b"), None);
        assert_eq!(normalize_host("a:b"), None);
        assert_eq!(normalize_host(""), None);
        assert_eq!(
            normalize_host("API.Example.COM.:443").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            normalize_host("a_b.example").as_deref(),
            Some("a_b.example")
        );
        // A second port, a second colon, brackets or empty labels outside an IPv6 literal,
        // anything after the literal's `]`: each could name another host to a backend.
        for bad in [
            "api.example.com:80:80",
            "a:b:1",
            "x]y",
            "[api.example.com]",
            "[::1]x",
            "[::1]:abc",
            "[::1]@evil",
            "[]",
            "api..example.com",
            ".api.example.com",
            "api.example.com..",
            ".",
            "api.example.com:+80",
            "api.example.com:99999",
            "api.example.com:000080",
        ] {
            assert_eq!(normalize_host(bad), None, "{bad}");
        }
    }
}
