//! The header policy: the one function that decides which client headers reach an upstream,
//! and the headers the gateway adds (`x-request-id`, `X-Forwarded-*`, `Forwarded`).

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use banyan_model::net::Cidr;
use bytes::Bytes;
use http::header::{CONNECTION, HOST, HeaderName, TE};
use http::{HeaderMap, HeaderValue};

use crate::proxy::Field;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

use banyan_model::headers::{
    FORWARDING, HOP_BY_HOP, OVERRIDES, PROTECTED, same_name, starts_with_name,
};

/// The names the policy may remove, by first byte and length: a name not found here (and
/// without an underscore or the identity prefix) is kept without comparing it to every list.
struct Listed([u64; 128]);

impl Listed {
    const fn new(lists: &[&[&str]]) -> Self {
        let mut t = [0u64; 128];
        let mut l = 0;
        while l < lists.len() {
            let mut i = 0;
            while i < lists[l].len() {
                let b = lists[l][i].as_bytes();
                t[(b[0] & 0x7f) as usize] |= 1 << Self::bit(b.len());
                i += 1;
            }
            l += 1;
        }
        Self(t)
    }

    /// Lengths from 63 on share bit 63; no listed name is that long.
    const fn bit(len: usize) -> usize {
        if len > 63 { 63 } else { len }
    }

    fn may_hold(&self, name: &str) -> bool {
        let b = name.as_bytes();
        b.first()
            .is_none_or(|&c| self.0[usize::from(c & 0x7f)] >> Self::bit(b.len()) & 1 != 0)
    }
}

static LISTED: Listed = Listed::new(&[HOP_BY_HOP, OVERRIDES, FORWARDING]);

/// Settings of the policy, from `server:` in the config.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    pub identity_prefix: String,
    pub trusted_proxies: Vec<Cidr>,
}

impl HeaderPolicy {
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(peer))
    }

    /// Removes from a client request every header that must not reach an upstream. Returns
    /// whether the client asked for trailers (`TE: trailers`), which is put back by the caller.
    pub fn clean_request(&self, headers: &mut HeaderMap, trusted: bool) -> bool {
        let mut wants_trailers = false;
        let mut doomed: Vec<HeaderName> = Vec::new();
        for (name, value) in headers.iter() {
            if name == TE {
                wants_trailers |= value.to_str().is_ok_and(|s| {
                    s.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
                });
            } else if name == CONNECTION {
                // Names nominated by `Connection` are hop-by-hop for this message.
                for token in value.to_str().unwrap_or("").split(',') {
                    let token = token.trim().to_ascii_lowercase();
                    if token.is_empty() || PROTECTED.iter().any(|p| same_name(&token, p)) {
                        continue;
                    }
                    if let Ok(n) = HeaderName::from_bytes(token.as_bytes()) {
                        doomed.push(n);
                    }
                }
            }
            let n = name.as_str();
            // Configuration refuses a prefix that covers a protected name; a policy made in
            // code cannot take one either.
            let identity = starts_with_name(n, &self.identity_prefix) && !PROTECTED.contains(&n);
            let underscore = n.contains('_');
            if !(identity || underscore || LISTED.may_hold(n)) {
                continue;
            }
            let forwarding = || FORWARDING.iter().any(|f| same_name(n, f));
            let drop = identity
                || HOP_BY_HOP.contains(&n)
                || OVERRIDES.iter().any(|o| same_name(n, o))
                // An underscore spelling of a forwarding header is never believed.
                || ((!trusted || underscore) && forwarding())
                || (underscore && same_name(n, "x-request-id"));
            if drop {
                doomed.push(name.clone());
            }
        }
        for n in doomed {
            headers.remove(&n);
        }
        wants_trailers
    }

    /// Removes from a client's request trailers what [`Self::clean_request`] removes from an
    /// untrusted client's headers, and the fields only the gateway sets (`Host`,
    /// `Content-Length`, `x-request-id`).
    pub fn clean_trailers(&self, trailers: &mut HeaderMap) {
        self.clean_request(trailers, false);
        for name in PROTECTED {
            trailers.remove(*name);
        }
    }

    /// Sets `X-Forwarded-For/Proto/Host` and `Forwarded` in `added`. From a trusted peer,
    /// existing values are extended, and taken out of `headers` where `added` replaces them;
    /// otherwise they were removed by [`Self::clean_request`] and are set anew, the same for
    /// every request of a connection to one host. `host` is the Host as the client sent it.
    pub fn add_forwarding(
        &self,
        headers: &mut HeaderMap,
        added: &mut Added,
        peer: &PeerAddr,
        host: Option<&HeaderValue>,
        trusted: bool,
    ) {
        if !trusted {
            // What the client sent was removed by `clean_request`.
            added.hop = Some(peer.hop(host));
            return;
        }
        // A trusted proxy may have sent several lines; they form one list (RFC 9110 5.3).
        let forwarded_for = match joined(headers, &X_FORWARDED_FOR).filter(|p| !p.is_empty()) {
            Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", peer.ip)).ok(),
            None => Some(peer.header.clone()),
        };
        if forwarded_for.is_some() {
            headers.remove(&X_FORWARDED_FOR);
        }
        let forwarded_proto =
            (!headers.contains_key(&X_FORWARDED_PROTO)).then(|| HeaderValue::from_static("http"));
        let forwarded_host = host.filter(|_| !headers.contains_key(&X_FORWARDED_HOST));
        let prev = joined(headers, &FORWARDED).filter(|p| !p.is_empty());
        let forwarded = forwarded_element(prev.as_deref(), &peer.node, host);
        if forwarded.is_some() {
            headers.remove(&FORWARDED);
        }
        added.hop = Some(Arc::new(Hop::new([
            forwarded_for,
            forwarded_proto,
            forwarded_host.cloned(),
            forwarded,
        ])));
    }
}

/// This hop's forwarding fields, `X-Forwarded-For/Proto/Host` and `Forwarded`: the values,
/// for an HTTP/2 upstream's map, and the same as the field lines an HTTP/1.1 upstream's head
/// gets. For a peer that is not a trusted proxy they depend only on the connection and the
/// host, and are made once per connection and host ([`PeerAddr`]).
#[derive(Debug)]
pub struct Hop {
    values: [Option<HeaderValue>; 4],
    lines: Vec<u8>,
}

impl Hop {
    const NAMES: [&HeaderName; 4] = [
        &X_FORWARDED_FOR,
        &X_FORWARDED_PROTO,
        &X_FORWARDED_HOST,
        &FORWARDED,
    ];

    fn new(values: [Option<HeaderValue>; 4]) -> Self {
        let mut lines = Vec::new();
        for (name, value) in Self::NAMES.into_iter().zip(&values) {
            if let Some(v) = value {
                lines.extend_from_slice(name.as_str().as_bytes());
                lines.extend_from_slice(b": ");
                lines.extend_from_slice(v.as_bytes());
                lines.extend_from_slice(b"\r\n");
            }
        }
        Self { values, lines }
    }

    /// The fields, in the order of [`Hop::lines`].
    pub fn fields(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        Self::NAMES
            .into_iter()
            .zip(&self.values)
            .filter_map(|(n, v)| Some((n, v.as_ref()?)))
    }

    /// The fields as HTTP/1.1 field lines, each ending in CRLF.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }
}

/// The fields the gateway sets on a request on its way upstream. They travel beside the
/// client's header map rather than in it: an HTTP/1.1 upstream's encoder writes them after the
/// client's fields, which saves a map insert for each (about 200 instructions), and the
/// forwarding fields as lines made once per connection; an HTTP/2 upstream's request has them
/// put into its map ([`Added::insert_into`]).
///
/// A field set here replaces any of its name in the client's map: whoever sets one takes the
/// client's out of the map (the policy does, and the proxy for `x-request-id`), except `Host`,
/// which the HTTP/1.1 encoder skips in the map when `host` is set.
#[derive(Debug, Default)]
pub struct Added {
    pub host: Option<HeaderValue>,
    /// `X-Forwarded-For/Proto/Host` and `Forwarded`.
    pub hop: Option<Arc<Hop>>,
    /// `TE: trailers`, passed on when the client sent it.
    pub trailers: bool,
    pub request_id: Option<HeaderValue>,
}

static TE_NAME: HeaderName = TE;
static TRAILERS: HeaderValue = HeaderValue::from_static("trailers");

impl Added {
    /// The fields but `Host` and the forwarding fields ([`Added::hop`]), in the order they
    /// are written.
    pub fn fields(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        [
            (&TE_NAME, self.trailers.then_some(&TRAILERS)),
            (&X_REQUEST_ID, self.request_id.as_ref()),
        ]
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
    }

    /// Puts the fields into `headers`, each replacing any of its name.
    pub fn insert_into(&self, headers: &mut HeaderMap) {
        if let Some(h) = &self.host {
            headers.insert(HOST, h.clone());
        }
        let hop = self.hop.iter().flat_map(|h| h.fields());
        for (n, v) in hop.chain(self.fields()) {
            headers.insert(n.clone(), v.clone());
        }
    }
}

/// A `Forwarded` value: `prev`, then this hop's element (RFC 7239).
fn forwarded_element(
    prev: Option<&str>,
    node: &str,
    host: Option<&HeaderValue>,
) -> Option<HeaderValue> {
    let host = host.and_then(|h| h.to_str().ok()).unwrap_or("");
    let mut elem =
        String::with_capacity(prev.map_or(0, |p| p.len() + 2) + node.len() + host.len() + 32);
    if let Some(prev) = prev {
        elem.push_str(prev);
        elem.push_str(", ");
    }
    elem.push_str("for=");
    elem.push_str(node);
    elem.push_str(";proto=http");
    if !host.is_empty() {
        // RFC 7239: a value that is not a token (`host:8080`, `[::1]`) is quoted. Hosts were
        // validated, so they hold no `"` or `\` to escape.
        let token = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        elem.push_str(if token { ";host=" } else { ";host=\"" });
        elem.push_str(host);
        if !token {
            elem.push('"');
        }
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(elem)).ok()
}

/// A client address, formatted once per connection for the forwarding headers.
#[derive(Debug, Clone)]
pub struct PeerAddr {
    pub addr: SocketAddr,
    pub ip: IpAddr,
    /// The address as an `X-Forwarded-For` value.
    pub header: HeaderValue,
    /// The address as a `Forwarded` node (`192.0.2.1`, `"[2001:db8::1]"`).
    pub node: String,
    /// The last forwarding fields made for a client that is not a trusted proxy, with the
    /// host they were made for: a connection's requests mostly name one host.
    last_hop: LastHop,
}

impl PeerAddr {
    pub fn new(addr: SocketAddr) -> Self {
        let ip = addr.ip().to_canonical();
        let s = ip.to_string();
        let node = if ip.is_ipv6() {
            format!("\"[{s}]\"")
        } else {
            s.clone()
        };
        Self {
            addr,
            ip,
            header: HeaderValue::from_str(&s)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            node,
            last_hop: LastHop::default(),
        }
    }

    /// This hop's forwarding fields for a request to `host` from this peer, not a trusted
    /// proxy.
    fn hop(&self, host: Option<&HeaderValue>) -> Arc<Hop> {
        // A poisoned lock only means another request panicked while holding a cache.
        let mut last = self
            .last_hop
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((h, hop)) = &*last
            && h.as_ref() == host
        {
            return hop.clone();
        }
        let hop = Arc::new(Hop::new([
            Some(self.header.clone()),
            Some(HeaderValue::from_static("http")),
            host.cloned(),
            forwarded_element(None, &self.node, host),
        ]));
        *last = Some((host.cloned(), hop.clone()));
        hop
    }
}

/// Shared by the streams of an HTTP/2 connection, hence the lock; uncontended on HTTP/1.1.
#[derive(Debug, Default)]
struct LastHop(std::sync::Mutex<Option<(Option<HeaderValue>, Arc<Hop>)>>);

impl Clone for LastHop {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Every line of a list header, joined with `, `; `None` when absent or not text.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let v = v.to_str().ok()?;
        match &mut out {
            Some(s) => {
                s.push_str(", ");
                s.push_str(v);
            }
            None => out = Some(v.to_string()),
        }
    }
    out
}

/// Removes hop-by-hop headers (and those the upstream's `Connection` names) from a response.
/// One pass over the names: most responses have none of them.
pub fn clean_response(headers: &mut HeaderMap) {
    let mut doomed: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str();
        if n != "trailer" && HOP_BY_HOP.contains(&n) {
            doomed.push(name.clone());
        }
    }
    if doomed.is_empty() {
        return;
    }
    for v in headers.get_all(CONNECTION) {
        for t in v.to_str().unwrap_or("").split(',') {
            let t = t.trim();
            // Other hop-by-hop names (`keep-alive`, ...) are dropped already; `Trailer` stays
            // unless named here.
            if t.is_empty()
                || HOP_BY_HOP
                    .iter()
                    .any(|h| *h != "trailer" && h.eq_ignore_ascii_case(t))
            {
                continue;
            }
            let t = t.to_ascii_lowercase();
            if PROTECTED.contains(&t.as_str()) || t == "content-type" {
                continue;
            }
            if let Ok(n) = HeaderName::from_bytes(t.as_bytes()) {
                doomed.push(n);
            }
        }
    }
    for n in doomed {
        headers.remove(n);
    }
}

/// A client's `x-request-id` is kept when it is 1 to 128 characters of `A-Z a-z 0-9 - _ . : + / =`
/// (so it is safe in logs and headers); otherwise the gateway makes one.
///
/// The value is marked sensitive, which HTTP/2 encodes as never indexed: every id is new, so
/// adding each to the HPACK table would only evict useful entries and make every later
/// `x-request-id` compare against dozens of dead ones.
///
/// `sent` is the client's `x-request-id` field.
pub fn request_id(sent: &Field) -> HeaderValue {
    let mut id = sent
        .first
        .as_ref()
        .filter(|v| {
            let b = v.as_bytes();
            !sent.more
                && !b.is_empty()
                && b.len() <= 128
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.:+/=".contains(c))
        })
        .cloned()
        .unwrap_or_else(new_request_id);
    id.set_sensitive(true);
    id
}

thread_local! {
    static RNG: Cell<(u64, u64)> = Cell::new(seed());
    /// Ids made ahead, [`ID_LEN`] hex digits each: one allocation per [`ID_BATCH`] requests.
    static IDS: RefCell<Bytes> = const { RefCell::new(Bytes::new()) };
}

const ID_LEN: usize = 32;
const ID_BATCH: usize = 64;

fn seed() -> (u64, u64) {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let a = h.finish();
    h.write_u64(a);
    (a | 1, h.finish() | 1)
}

/// 128 random bits as 32 hex digits (xorshift128+, seeded per thread; unique, not secret).
pub fn new_request_id() -> HeaderValue {
    let id = IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        if ids.is_empty() {
            *ids = make_ids();
        }
        ids.split_to(ID_LEN)
    });
    HeaderValue::from_maybe_shared(id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn make_ids() -> Bytes {
    /// Two hex digits for each byte value.
    const HEX: [[u8; 2]; 256] = {
        let digits = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [digits[i >> 4], digits[i & 0xf]];
            i += 1;
        }
        t
    };
    let mut out = vec![0u8; ID_LEN * ID_BATCH];
    RNG.with(|r| {
        let (mut s1, mut s0) = r.get();
        // 64 random bits make 16 hex digits.
        for digits in out.chunks_exact_mut(16) {
            // xorshift128+
            let mut x = s1;
            (s1, s0) = (s0, {
                x ^= x << 23;
                x ^ s0 ^ (x >> 17) ^ (s0 >> 26)
            });
            let random = s0.wrapping_add(s1).to_be_bytes();
            for (pair, b) in digits.chunks_exact_mut(2).zip(random) {
                pair.copy_from_slice(&HEX[usize::from(b)]);
            }
        }
        r.set((s1, s0));
    });
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> HeaderPolicy {
        HeaderPolicy {
            identity_prefix: "x-banyan-".into(),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    #[test]
    fn identity_and_hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-banyan-consumer", "admin"),
            ("X_Banyan_Scopes", "all"),
            ("connection", "close, x-secret, content-length, host"),
            ("x-secret", "1"),
            ("keep-alive", "5"),
            ("x-http-method-override", "DELETE"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x_forwarded_for", "1.2.3.4"),
            ("content-length", "3"),
            ("accept", "*/*"),
        ] {
            h.append(
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        policy().clean_request(&mut h, false);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "content-length"]);
    }

    #[test]
    fn an_identity_prefix_never_takes_a_protected_field() {
        let p = HeaderPolicy {
            identity_prefix: "content-".into(),
            trusted_proxies: Vec::new(),
        };
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("5"));
        h.insert("content-x", HeaderValue::from_static("1"));
        p.clean_request(&mut h, false);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["content-length"]
        );
    }

    #[test]
    fn forwarding_trusts_only_trusted_peers() {
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        p.clean_request(&mut h, false);
        let host = HeaderValue::from_static("api.example.com");
        forward(&p, &mut h, "192.0.2.1:5000", Some(&host), false);
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert_eq!(
            h["forwarded"],
            "for=192.0.2.1;proto=http;host=api.example.com"
        );
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        p.clean_request(&mut h, true);
        forward(&p, &mut h, "10.1.1.1:5000", None, true);
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 10.1.1.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("2.2.2.2"));
        h.append("forwarded", HeaderValue::from_static("for=1.1.1.1"));
        forward(&p, &mut h, "10.1.1.1:5000", None, true);
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.1.1.1");
        assert_eq!(h.get_all("forwarded").iter().count(), 1);
        assert_eq!(h["forwarded"], "for=1.1.1.1, for=10.1.1.1;proto=http");
    }

    /// The forwarding fields for a request from `peer`, put into its map as for an HTTP/2
    /// upstream.
    fn forward(
        p: &HeaderPolicy,
        h: &mut HeaderMap,
        peer: &str,
        host: Option<&HeaderValue>,
        trusted: bool,
    ) {
        let mut added = Added::default();
        p.add_forwarding(
            h,
            &mut added,
            &PeerAddr::new(peer.parse().unwrap()),
            host,
            trusted,
        );
        added.insert_into(h);
    }

    #[test]
    fn every_listed_name_passes_the_filter() {
        for n in HOP_BY_HOP.iter().chain(OVERRIDES).chain(FORWARDING) {
            assert!(n.len() < 63 && LISTED.may_hold(n), "{n}");
        }
        for n in ["user-agent", "accept", "host", "content-type"] {
            assert!(!LISTED.may_hold(n), "{n}");
        }
    }

    #[test]
    fn request_ids() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc-123"));
        let sent = |h: &HeaderMap| crate::proxy::Known::of(h).request_id;
        assert_eq!(request_id(&sent(&h)), "abc-123");
        h.append("x-request-id", HeaderValue::from_static("abc-124"));
        assert_eq!(request_id(&sent(&h)).len(), 32, "two ids are none");
        h.insert("x-request-id", HeaderValue::from_static("bad id<script>"));
        let made = request_id(&sent(&h));
        assert_eq!(made.len(), 32);
        // Made in batches: across several, every id is new and 32 lowercase hex digits.
        let ids: std::collections::HashSet<_> = (0..5 * ID_BATCH)
            .map(|_| {
                let id = new_request_id();
                assert!(
                    id.len() == 32
                        && id
                            .as_bytes()
                            .iter()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)),
                    "{id:?}"
                );
                id
            })
            .collect();
        assert_eq!(ids.len(), 5 * ID_BATCH);
    }

    proptest! {
        // For any header set, no identity header survives, and the gateway's headers are there.
        #[test]
        fn no_identity_header_survives(names in proptest::collection::vec("[a-zA-Z_-]{1,20}", 0..20), trusted in any::<bool>()) {
            let p = policy();
            let mut h = HeaderMap::new();
            for n in &names {
                for cand in [n.clone(), format!("x-banyan-{n}"), format!("X_BANYAN_{n}")] {
                    if let Ok(name) = HeaderName::from_bytes(cand.to_ascii_lowercase().as_bytes()) {
                        h.append(name, HeaderValue::from_static("v"));
                    }
                }
            }
            h.append(CONNECTION, HeaderValue::from_static("x-banyan-a, host"));
            p.clean_request(&mut h, trusted);
            forward(&p, &mut h, "192.0.2.9:1", Some(&HeaderValue::from_static("h")), trusted);
            for k in h.keys() {
                prop_assert!(!starts_with_name(k.as_str(), "x-banyan-"), "{} survived", k);
                prop_assert!(!HOP_BY_HOP.contains(&k.as_str()), "{} survived", k);
            }
            prop_assert!(h.contains_key("x-forwarded-for") && h.contains_key("forwarded") && h.contains_key("x-forwarded-proto"));
        }
    }
}
