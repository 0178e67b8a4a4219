//! Route patterns: hosts, paths and value matchers, parsed and checked once.

use std::fmt;

use http::HeaderMap;
use regex::Regex;

use crate::path::{normalize, segments};

/// One segment of a path pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    Lit(Box<str>),
    /// `{name}`: exactly one segment.
    Param(Box<str>),
    /// `{*name}`: zero or more segments, always last.
    Tail(Box<str>),
}

/// Per-position specificity, most specific first when compared descending.
/// `End` (the pattern stops here) only ever competes with a tail that matches nothing.
pub(crate) const K_TAIL: u8 = 0;
pub(crate) const K_PARAM: u8 = 1;
pub(crate) const K_LIT: u8 = 2;
pub(crate) const K_END: u8 = 3;

/// A parsed path pattern such as `/v2/invoices/{id}` or `/static/{*rest}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    pub raw: String,
    pub segs: Vec<Seg>,
}

/// A pattern error: message and hint.
pub type PatternError = (String, String);

impl PathPattern {
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        if !raw.starts_with('/') {
            return Err((
                format!("`{raw}` does not start with `/`"),
                "write an absolute path such as /api/{id}".into(),
            ));
        }
        let mut segs = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let parts: Vec<&str> = segments(raw).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let (tail, name) = match inner.strip_prefix('*') {
                    Some(n) => (true, n),
                    None => (false, inner),
                };
                if !is_ident(name) {
                    return Err((
                        format!("`{{{inner}}}` is not a valid capture"),
                        "capture names are letters, digits and `_`, like {id} or {*rest}".into(),
                    ));
                }
                if names.contains(&name) {
                    return Err((
                        format!("the capture `{name}` is used twice"),
                        "give each capture its own name".into(),
                    ));
                }
                names.push(name);
                if tail {
                    if !last {
                        return Err((
                            format!("`{{*{name}}}` must be the last segment"),
                            "a tail capture takes the rest of the path".into(),
                        ));
                    }
                    segs.push(Seg::Tail(name.into()));
                } else {
                    segs.push(Seg::Param(name.into()));
                }
            } else if part.contains('{') || part.contains('}') {
                return Err((
                    format!("segment `{part}` mixes text and a capture"),
                    "a capture is a whole segment: /files/{name}, not /files/{name}.json".into(),
                ));
            } else if part.is_empty() && !last {
                return Err((
                    format!("`{raw}` has an empty segment (`//`)"),
                    "requests are normalised with `//` merged: this route could never be reached"
                        .into(),
                ));
            } else {
                let path = format!("/{part}");
                match normalize(&path) {
                    Ok(n) if n == path => segs.push(Seg::Lit((*part).into())),
                    Ok(n) => {
                        return Err((
                            format!(
                                "segment `{part}` can never match: requests are normalised to `{}`",
                                &n[1..]
                            ),
                            format!("write `{}`", &n[1..]),
                        ));
                    }
                    Err(e) => {
                        return Err((
                            format!(
                                "segment `{part}` can never match: {e}, and such requests are refused"
                            ),
                            "remove it".into(),
                        ));
                    }
                }
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            segs,
        })
    }

    pub(crate) fn kinds(&self) -> Vec<u8> {
        let mut k: Vec<u8> = self
            .segs
            .iter()
            .map(|s| match s {
                Seg::Lit(_) => K_LIT,
                Seg::Param(_) => K_PARAM,
                Seg::Tail(_) => K_TAIL,
            })
            .collect();
        if !matches!(self.segs.last(), Some(Seg::Tail(_))) {
            k.push(K_END);
        }
        k
    }

    /// Capture names in path order.
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Param(n) | Seg::Tail(n) => Some(&**n),
            Seg::Lit(_) => None,
        })
    }

    /// The literal segments before the first capture, as a path (`/v2/invoices`).
    pub fn literal_prefix(&self) -> String {
        let mut p = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => {
                    p.push('/');
                    p.push_str(l);
                }
                _ => break,
            }
        }
        p
    }

    /// A request path this pattern matches, for messages (`/v2/invoices/x`).
    pub fn example(&self) -> String {
        let mut p = String::new();
        for s in &self.segs {
            p.push('/');
            match s {
                Seg::Lit(l) => p.push_str(l),
                Seg::Param(_) | Seg::Tail(_) => p.push('x'),
            }
        }
        if p.is_empty() {
            p.push('/');
        }
        p
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// A host pattern. Hosts are compared in lower case without port or trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com`, stored as `example.com`: exactly one more label.
    Wildcard(String),
    Any,
}

impl HostPattern {
    pub fn parse(host: Option<&str>) -> Self {
        match host {
            None | Some("*") => HostPattern::Any,
            Some(h) => match h.strip_prefix("*.") {
                Some(suffix) => HostPattern::Wildcard(suffix.to_ascii_lowercase()),
                None => HostPattern::Exact(h.to_ascii_lowercase()),
            },
        }
    }

    pub(crate) fn rank(&self) -> u8 {
        match self {
            HostPattern::Exact(_) => 2,
            HostPattern::Wildcard(_) => 1,
            HostPattern::Any => 0,
        }
    }

    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Wildcard(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(s) => write!(f, "*.{s}"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

/// What a value matcher tests.
#[derive(Clone, Debug)]
pub enum Test {
    Exact(String),
    Regex(Regex),
    Present,
    Absent,
}

/// A header (name in lower case) or query parameter matcher.
#[derive(Clone, Debug)]
pub struct ValueMatcher {
    pub name: String,
    pub test: Test,
}

impl ValueMatcher {
    fn accepts(&self, value: Option<&str>) -> bool {
        match (&self.test, value) {
            (Test::Absent, v) => v.is_none(),
            (Test::Present, v) => v.is_some(),
            (Test::Exact(x), Some(v)) => x == v,
            (Test::Regex(re), Some(v)) => re.is_match(v),
            (_, None) => false,
        }
    }

    /// Header values are combined with `,` as RFC 9110 allows; a header sent twice cannot pass
    /// one copy to the matcher and another to the backend.
    pub fn accepts_header(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&self.name).iter();
        let Some(first) = values.next() else {
            return self.accepts(None);
        };
        let first = first.to_str().ok();
        match values.next() {
            None => self.accepts(Some(first.unwrap_or("\u{fffd}"))),
            Some(second) => {
                let mut all = String::from(first.unwrap_or("\u{fffd}"));
                for v in std::iter::once(second).chain(values) {
                    all.push(',');
                    all.push_str(v.to_str().unwrap_or("\u{fffd}"));
                }
                self.accepts(Some(&all))
            }
        }
    }

    /// The first occurrence of the parameter, percent- and `+`-decoded.
    pub fn accepts_query(&self, query: Option<&str>) -> bool {
        let found = query.and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_query(k) == self.name).then(|| decode_query(v))
            })
        });
        self.accepts(found.as_deref())
    }

    /// True when no request can satisfy both `self` and `other` (same name assumed).
    pub(crate) fn excludes(&self, other: &ValueMatcher) -> bool {
        match (&self.test, &other.test) {
            (Test::Absent, Test::Absent) => false,
            (Test::Absent, _) | (_, Test::Absent) => true,
            (Test::Exact(a), Test::Exact(b)) => a != b,
            (Test::Exact(a), Test::Regex(r)) | (Test::Regex(r), Test::Exact(a)) => !r.is_match(a),
            _ => false,
        }
    }

    pub(crate) fn same_as(&self, other: &ValueMatcher) -> bool {
        self.name == other.name
            && match (&self.test, &other.test) {
                (Test::Exact(a), Test::Exact(b)) => a == b,
                (Test::Regex(a), Test::Regex(b)) => a.as_str() == b.as_str(),
                (Test::Present, Test::Present) | (Test::Absent, Test::Absent) => true,
                _ => false,
            }
    }
}

impl fmt::Display for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            Test::Exact(v) => write!(f, "{}={v:?}", self.name),
            Test::Regex(r) => write!(f, "{}~/{}/", self.name, r.as_str()),
            Test::Present => write!(f, "{} present", self.name),
            Test::Absent => write!(f, "{} absent", self.name),
        }
    }
}

/// Decodes `%XX` and `+` in a query component; invalid escapes are kept as they are.
pub fn decode_query(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_refuse() {
        let p = PathPattern::parse("/v2/invoices/{id}").unwrap();
        assert_eq!(p.captures().collect::<Vec<_>>(), ["id"]);
        assert_eq!(p.literal_prefix(), "/v2/invoices");
        assert!(PathPattern::parse("/{*rest}/x").is_err());
        assert!(PathPattern::parse("/{a}/{a}").is_err());
        assert!(PathPattern::parse("/files/{name}.json").is_err());
        assert!(PathPattern::parse("/a//b").is_err());
        assert!(
            PathPattern::parse("/a/../b")
                .unwrap_err()
                .0
                .contains("never match")
        );
        assert!(
            PathPattern::parse("/%7euser")
                .unwrap_err()
                .1
                .contains("~user")
        );
        assert!(PathPattern::parse("x").is_err());
    }

    #[test]
    fn hosts() {
        let w = HostPattern::parse(Some("*.Example.com"));
        assert!(w.matches("api.example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches("a.b.example.com"));
        assert!(HostPattern::parse(None).matches("anything"));
    }

    #[test]
    fn query_decoding() {
        assert_eq!(decode_query("a%20b+c"), "a b c");
        assert_eq!(decode_query("100%"), "100%");
        assert_eq!(decode_query("%zz"), "%zz");
        let m = ValueMatcher {
            name: "v".into(),
            test: Test::Exact("2 x".into()),
        };
        assert!(m.accepts_query(Some("a=1&v=2+x&v=3")));
        assert!(!m.accepts_query(Some("a=1")));
    }
}
