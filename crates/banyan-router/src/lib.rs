//! Banyan's router: compiles routes into a matcher over host, method, path, headers and query,
//! with a documented total priority order, conflict detection and `explain`.
//!
//! Pure: no I/O, no async runtime. Depends only on the model. Benchmarked (`benches/router.rs`),
//! property-tested (`tests/router_properties.rs`) and fuzzed (`fuzz/`).
#![forbid(unsafe_code)]

pub mod compile;
pub mod path;
pub mod pattern;
pub mod table;

pub use compile::{CompiledRoutes, Rewrite, compile};
pub use path::{PathError, normalize};
pub use pattern::{HostPattern, PathPattern};
pub use table::{Captures, Explanation, Outcome, Reason, RequestView, Route, Router, Spans};

/// Lower-cases a request host and removes its port and a trailing dot, the form routes are
/// matched against. Returns `None` for a host that is not a valid name or address.
pub fn normalize_host(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let end = rest.find(']')?;
        &authority[..end + 2]
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return None,
            None => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':' | b'_')
        });
    valid.then(|| host.to_ascii_lowercase())
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
        assert_eq!(normalize_host("a b"), None);
        assert_eq!(normalize_host("a:b"), None);
        assert_eq!(normalize_host(""), None);
    }
}
