//! Addresses in config: CIDR ranges and endpoint URLs.

use std::net::IpAddr;
use std::str::FromStr;

/// An IP range, `10.0.0.0/8` or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("`/{p}` is not a prefix length for this address (0 to {max})")
            })?,
        };
        Ok(Cidr { addr, prefix })
    }
}

/// An endpoint URL split into what the proxy needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl {
    /// `host:port`, the pool key and the default upstream `Host`.
    pub authority: String,
    /// A path prefix put before every forwarded path; empty for none.
    pub base_path: String,
}

/// Parses `http://host:port[/base]`. The error is (message, hint).
pub fn parse_endpoint_url(url: &str) -> Result<EndpointUrl, (String, String)> {
    let bad = |msg: String| {
        (
            msg,
            "write http://HOST:PORT, e.g. http://127.0.0.1:3000".to_string(),
        )
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|_| bad(format!("`{url}` is not a URL")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err((
                "TLS to upstreams is not supported yet".into(),
                "use an http:// endpoint; upstream TLS comes with the TLS work".into(),
            ));
        }
        _ => return Err(bad(format!("`{url}` must start with http://"))),
    }
    let auth = uri
        .authority()
        .ok_or_else(|| bad(format!("`{url}` has no host")))?;
    if auth.as_str().contains('@') {
        return Err(bad("credentials in endpoint URLs are not supported".into()));
    }
    if auth.host().is_empty() {
        return Err(bad(format!("`{url}` has no host")));
    }
    let authority = match auth.port_u16() {
        Some(_) => auth.as_str().to_ascii_lowercase(),
        None => format!("{}:80", auth.as_str().to_ascii_lowercase()),
    };
    if uri.query().is_some() {
        return Err(bad("an endpoint URL cannot have a query".into()));
    }
    let base_path = uri.path().trim_end_matches('/').to_string();
    Ok(EndpointUrl {
        authority,
        base_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }

    #[test]
    fn endpoint_urls() {
        let u = parse_endpoint_url("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.base_path.as_str()),
            ("127.0.0.1:3000", "")
        );
        let u = parse_endpoint_url("http://Backend/base/").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.base_path.as_str()),
            ("backend:80", "/base")
        );
        assert!(
            parse_endpoint_url("https://x:1")
                .unwrap_err()
                .0
                .contains("TLS")
        );
        assert!(parse_endpoint_url("ftp://x").is_err());
        assert!(parse_endpoint_url("http://u:p@x:1").is_err());
    }
}
