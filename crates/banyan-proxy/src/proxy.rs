//! The request path, as one readable procedure:
//! sanitize → route → (policies, later) → choose endpoint → forward → respond.
//! Every protocol (HTTP/1.1, HTTP/2) enters through [`Gateway::handle`], so limits, deadlines
//! and sanitizing cannot drift apart between them.

use std::borrow::Cow;
use std::error::Error as _;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use arc_swap::ArcSwap;
use banyan_model::{HostRewrite, UpstreamProtocol};
use banyan_router::{Captures, Outcome, RequestView, normalize, normalize_host};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Response, Uri, Version};
use tokio::task::coop;
use tokio::time::{Instant, Sleep};

use crate::body::{BodyTooLarge, ClientBody, ClientBodyError, LimitedBody, ProxyBody};
use crate::error::GatewayError;
use crate::pool::Sending;
use crate::sanitize::{Added, PeerAddr, X_REQUEST_ID, clean_response, request_id};
use crate::snapshot::{RouteInfo, Snapshot, Target};
use crate::upstream::{PoolRegistry, UpstreamError};

/// Per connection: who is on the other end and which listener they came through.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: PeerAddr,
    /// Index into `config.listeners` (listeners do not change on reload).
    pub listener: usize,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, listener: usize) -> Self {
        Self {
            peer: PeerAddr::new(peer),
            listener,
        }
    }
}

/// The gateway's shared state: the current snapshot and what outlives snapshots.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    pub pools: PoolRegistry,
}

impl Gateway {
    /// A gateway serving `snapshot`. `pools` must be the registry the snapshot was compiled
    /// with, or the first reload starts new pools instead of keeping the warm ones; prefer
    /// [`Gateway::from_yaml`], which cannot get that wrong.
    pub fn new(snapshot: Snapshot, pools: PoolRegistry) -> Arc<Self> {
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            pools,
        })
    }

    /// Compiles config text and builds a gateway around it, with one pool registry for this
    /// snapshot and every later one.
    pub fn from_yaml(src: &str) -> Result<Arc<Self>, banyan_model::Diagnostics> {
        let pools = PoolRegistry::default();
        let snapshot = Snapshot::from_yaml(src, &pools, 1)?;
        Ok(Self::new(snapshot, pools))
    }

    /// The running snapshot. A request loads it once, and is routed and sent on that one, so a
    /// reload never changes the routes under a request in flight; its exchange holds its own
    /// reference to the endpoint's pool.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Swaps in a new snapshot; callers serialise writers (see `reload`).
    pub fn swap(&self, s: Snapshot) {
        self.snapshot.store(Arc::new(s));
    }

    /// Serves one request. Never fails: errors become problem+json responses.
    ///
    /// Everything up to sending is done here, before the future is made: the future holds only
    /// the upstream exchange and the request id, not the request, its routing or its head, and
    /// so stays small where it is moved or boxed (each HTTP/2 stream boxes its own).
    ///
    /// `known` is what the head's parser noted of the fields the gateway reads (looked up in
    /// the map when `None`). `timer` is a route timer the connection keeps, reset for this
    /// request: moving a registered timer's deadline later costs an atomic update, where a new
    /// timer costs a registration and a removal.
    pub fn handle<'t>(
        &self,
        conn: &ConnInfo,
        req: Request<ClientBody>,
        known: Option<Known>,
        timer: Pin<&'t mut Sleep>,
    ) -> impl Future<Output = Answer> + Send + use<'t> {
        let known = known.unwrap_or_else(|| Known::of(req.headers()));
        let id = request_id(&known.request_id);
        let prepared = prepare(&self.snapshot(), conn, req, &known, &id);
        async move {
            let answer = match prepared {
                Ok(Prepared::Send { sending, timeout }) => exchange(sending, timeout, timer).await,
                Ok(Prepared::Respond(resp)) => Ok(resp),
                Err(e) => Err(e),
            };
            let response = match answer {
                Ok(r) => r,
                Err(e) => {
                    // The id is marked sensitive (for HPACK), which its Debug form hides.
                    let request_id = id.to_str().unwrap_or("");
                    tracing::debug!(request_id, error = %e, "request answered by the gateway");
                    e.into_response(&id)
                }
            };
            Answer {
                response,
                request_id: id,
            }
        }
    }
}

/// The fields of a request head that the gateway reads itself: `Host`, `Content-Length` and
/// `x-request-id`, each its first line and whether more followed. An HTTP/1.1 head's parser
/// notes them as it reads the head, which saves a map lookup for each; an HTTP/2 request's are
/// looked up ([`Known::of`]). The header policy never removes them (`Connection` cannot name
/// them, nor the identity prefix cover them), so what is known stays true while the request is
/// prepared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    pub host: Field,
    pub length: Field,
    pub request_id: Field,
}

/// A header field's first value, and whether there were more lines of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Field {
    pub first: Option<HeaderValue>,
    pub more: bool,
}

impl Field {
    fn of(headers: &http::HeaderMap, name: &http::HeaderName) -> Self {
        let mut values = headers.get_all(name).iter();
        Field {
            first: values.next().cloned(),
            more: values.next().is_some(),
        }
    }

    /// Notes one more line of the field.
    pub fn add(&mut self, value: &HeaderValue) {
        match self.first {
            Some(_) => self.more = true,
            None => self.first = Some(value.clone()),
        }
    }
}

impl Known {
    /// Looks the fields up in `headers`.
    pub fn of(headers: &http::HeaderMap) -> Self {
        // A few fields are walked faster than they are hashed three times.
        if headers.len() <= 16 {
            let mut known = Known::default();
            for (name, value) in headers {
                if name == HOST {
                    known.host.add(value);
                } else if name == CONTENT_LENGTH {
                    known.length.add(value);
                } else if name == X_REQUEST_ID {
                    known.request_id.add(value);
                }
            }
            return known;
        }
        Self::looked_up(headers)
    }

    fn looked_up(headers: &http::HeaderMap) -> Self {
        Known {
            host: Field::of(headers, &HOST),
            length: Field::of(headers, &CONTENT_LENGTH),
            request_id: Field::of(headers, &X_REQUEST_ID),
        }
    }
}

/// A response and the request id it answers under. The id is added where the response is
/// written, in place of any the upstream sent: the HTTP/1.1 writer writes it with the head,
/// which saves a map insert, and HTTP/2 puts it into the map ([`Answer::into_response`]).
pub struct Answer {
    pub response: Response<ProxyBody>,
    pub request_id: HeaderValue,
}

impl Answer {
    /// The response with its request id in the map.
    pub fn into_response(self) -> Response<ProxyBody> {
        let mut resp = self.response;
        resp.headers_mut()
            .insert(X_REQUEST_ID.clone(), self.request_id);
        resp
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gateway")
    }
}

/// The answer to a request refused before it could be read whole (a malformed or oversized
/// head): a problem document under a new request id.
pub fn refusal(e: GatewayError) -> Answer {
    let id = request_id(&Field::default());
    Answer {
        response: e.into_response(&id),
        request_id: id,
    }
}

/// What the head checks learn: the host as the client sent it (for `X-Forwarded-Host`) and
/// normalised (for routing), whether a `Host` field sent it, and the head's size (for
/// per-route limits).
struct Head {
    sent: Option<HeaderValue>,
    field: bool,
    /// The normalised host when lower-casing changed it; otherwise it is the first
    /// `host_len` bytes of `sent`, and no string is made for it.
    lowered: Option<String>,
    host_len: usize,
    bytes: u64,
}

impl Head {
    /// The host as routes match it.
    fn normal(&self) -> &str {
        match (&self.lowered, &self.sent) {
            (Some(l), _) => l,
            (None, Some(sent)) => {
                std::str::from_utf8(&sent.as_bytes()[..self.host_len]).unwrap_or_default()
            }
            (None, None) => "",
        }
    }
}

/// Checks the request line and head before anything looks at the route.
fn check_head(
    snap: &Snapshot,
    req: &Request<ClientBody>,
    known: &Known,
) -> Result<Head, GatewayError> {
    let bad = |m: &str| Err(GatewayError::BadRequest(m.to_string()));
    if req.method() == Method::CONNECT {
        return bad("CONNECT is not supported: the gateway does not open tunnels");
    }
    let uri = req.uri();
    let target_len = uri.path_and_query().map_or(0, |p| p.as_str().len()) as u64;
    if target_len > snap.limits.max_uri {
        return Err(GatewayError::UriTooLong {
            limit: snap.limits.max_uri,
        });
    }
    let headers = req.headers();
    if headers.len() > snap.limits.max_headers {
        return Err(GatewayError::HeadersTooLarge(format!(
            "more than {} header fields",
            snap.limits.max_headers
        )));
    }
    let head_bytes: u64 = headers
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum::<u64>()
        + target_len;
    if head_bytes > snap.limits.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge(format!(
            "the request head is larger than {} bytes",
            snap.limits.max_header_bytes
        )));
    }
    // One authority: HTTP/2's :authority or the absolute-form target, and a Host header must
    // agree; HTTP/1.1 needs exactly one Host.
    let host_value = known.host.first.as_ref();
    if known.host.more {
        return bad("more than one Host header");
    }
    let host_header = match host_value.map(|h| h.to_str()) {
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return bad("the Host header is not valid"),
        None => None,
    };
    let authority = uri.authority().map(|a| a.as_str());
    let raw_host = match (authority, host_header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => {
            return bad("the request target's authority and the Host header disagree");
        }
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) if req.version() == Version::HTTP_11 || req.version() == Version::HTTP_2 => {
            return bad("the request has no Host");
        }
        (None, None) => "",
    };
    if authority.is_some_and(|a| a.contains('@')) {
        return bad("userinfo is not allowed in the request target");
    }
    if uri
        .scheme()
        .is_some_and(|s| s != &http::uri::Scheme::HTTP && s != &http::uri::Scheme::HTTPS)
    {
        return bad("unsupported scheme in the request target");
    }
    if raw_host.is_empty() {
        // An empty `Host:` is still a field, removed for HTTP/2 upstreams like any other.
        return Ok(Head {
            sent: None,
            field: host_value.is_some(),
            lowered: None,
            host_len: 0,
            bytes: head_bytes,
        });
    }
    let invalid = || GatewayError::BadRequest("the Host is not a valid host name".into());
    let sent = match host_value {
        Some(h) => h.clone(),
        None => HeaderValue::from_str(raw_host).map_err(|_| invalid())?,
    };
    // The Host field and the authority are the same but for case (checked above): what
    // was sent is normalised, so that an unchanged host is a prefix of it.
    let (lowered, host_len) =
        match normalize_host(host_header.unwrap_or(raw_host)).ok_or_else(invalid)? {
            Cow::Borrowed(h) => (None, h.len()),
            Cow::Owned(h) => (Some(h), 0),
        };
    Ok(Head {
        sent: Some(sent),
        field: host_value.is_some(),
        lowered,
        host_len,
        bytes: head_bytes,
    })
}

/// A request ready to go: on its way to an upstream, or answered by the route itself.
enum Prepared {
    Send { sending: Sending, timeout: Duration },
    Respond(Response<ProxyBody>),
}

/// Sanitizes and routes the request, and starts it on its way to the chosen endpoint.
fn prepare(
    snap: &Snapshot,
    conn: &ConnInfo,
    mut req: Request<ClientBody>,
    known: &Known,
    id: &HeaderValue,
) -> Result<Prepared, GatewayError> {
    // 1. Sanitize: check the head, find the canonical path, and apply the header policy
    //    before routing, so that no matcher sees a header the backend will not (a client's
    //    `x-banyan-*`, an untrusted `X-Forwarded-For`).
    let head = check_head(snap, &req, known)?;
    if req.uri().path() == "*" || !req.uri().path().starts_with('/') {
        return Err(GatewayError::BadRequest(
            "the request target must be an absolute path".into(),
        ));
    }
    let trusted = snap.policy.is_trusted(conn.peer.ip);
    let wants_trailers = snap.policy.clean_request(req.headers_mut(), trusted);
    let path = normalize(req.uri().path()).map_err(|e| GatewayError::BadRequest(e.to_string()))?;

    // 2. Route.
    let table = snap
        .routes
        .tables
        .get(conn.listener)
        .map(|(_, r)| r)
        .ok_or_else(|| GatewayError::NoRoute {
            method: req.method().clone(),
            path: path.to_string(),
        })?;
    let view = RequestView {
        method: req.method(),
        host: head.normal(),
        path: &path,
        query: req.uri().query(),
        headers: req.headers(),
    };
    let (route_id, captures) = match table.lookup(&view) {
        Outcome::Matched { id, captures } => (id, captures),
        Outcome::MethodNotAllowed(allow) => {
            return Err(GatewayError::MethodNotAllowed {
                method: req.method().clone(),
                allow,
            });
        }
        Outcome::NotFound => {
            return Err(GatewayError::NoRoute {
                method: req.method().clone(),
                path: path.to_string(),
            });
        }
    };
    let route = &snap.route_info[route_id];

    // 3. Per-route limits. The head was read before the route was known; a route can only lower it.
    if head.bytes > route.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge(format!(
            "the request head is larger than {} bytes",
            route.max_header_bytes
        )));
    }
    let announced = known
        .length
        .first
        .as_ref()
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > route.max_body) {
        return Err(GatewayError::PayloadTooLarge {
            limit: route.max_body,
        });
    }

    // 4. Policies (authentication, rate limits, ...) slot in here, in their documented order.

    // 5. Choose the target.
    let service = match &route.target {
        Target::Respond {
            status,
            body,
            content_type,
        } => {
            let mut resp = Response::new(ProxyBody::full(body.clone()));
            *resp.status_mut() = *status;
            resp.headers_mut()
                .insert(CONTENT_TYPE, content_type.clone());
            return Ok(Prepared::Respond(resp));
        }
        Target::Service(s) => s,
    };
    let endpoint = service.pick().ok_or_else(|| GatewayError::NoEndpoint {
        service: service.name.clone(),
    })?;

    // 6. Build the upstream request from the canonical one. HTTP/1.1 upstreams get the
    // origin-form target and `Host`. HTTP/2 ones get that authority as `:authority`, and no
    // `Host` that could disagree with it (RFC 9113 8.3.1).
    let absolute;
    let origin = match service.transport.protocol {
        UpstreamProtocol::Http1 => "",
        UpstreamProtocol::Http2 => {
            let client_host = match route.host {
                HostRewrite::Upstream => None,
                HostRewrite::Client => head.sent.as_ref().and_then(|h| h.to_str().ok()),
            };
            let upstream_host = endpoint.host.to_str().unwrap_or(&endpoint.authority);
            absolute = format!("http://{}", client_host.unwrap_or(upstream_host));
            absolute.as_str()
        }
    };
    let unchanged = origin.is_empty()
        && endpoint.base_path.is_empty()
        && route.rewrite.is_none()
        && matches!(path, Cow::Borrowed(_))
        && req.uri().authority().is_none();
    let uri = if unchanged {
        // An origin-form target that was canonical and is not rewritten goes out as it came.
        req.uri().clone()
    } else {
        upstream_uri(
            origin,
            &endpoint.base_path,
            route,
            &path,
            &captures,
            req.uri().query(),
        )?
    };
    let (mut parts, body) = req.into_parts();
    // What the gateway sets goes beside the map, not into it (see `Added`).
    let mut added = Added {
        trailers: wants_trailers,
        request_id: Some(id.clone()),
        ..Added::default()
    };
    if known.request_id.first.is_some() {
        parts.headers.remove(&X_REQUEST_ID);
    }
    snap.policy.add_forwarding(
        &mut parts.headers,
        &mut added,
        &conn.peer,
        head.sent.as_ref(),
        trusted,
    );
    match (service.transport.protocol, route.host) {
        (UpstreamProtocol::Http2, _) => {
            if head.field {
                parts.headers.remove(HOST);
            }
        }
        (UpstreamProtocol::Http1, HostRewrite::Upstream) => {
            added.host = Some(endpoint.host.clone());
        }
        (UpstreamProtocol::Http1, HostRewrite::Client) => {
            // An HTTP/2 client's host is its `:authority`, not a field; an HTTP/1.0 client may
            // send no host at all. HTTP/1.1 upstreams need one.
            if !head.field {
                added.host = Some(head.sent.clone().unwrap_or_else(|| endpoint.host.clone()));
            }
        }
    }
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let body = LimitedBody::new(body, route.max_body, snap.policy.clone());

    // 7. Forward, with the route's deadline for the response head.
    Ok(Prepared::Send {
        sending: endpoint.pool.send(parts, &added, &known.length, body),
        timeout: route.timeout,
    })
}

/// Waits for the upstream's response head, within the route's deadline.
async fn exchange(
    mut sending: Sending,
    timeout: Duration,
    mut timer: Pin<&mut Sleep>,
) -> Result<Response<ProxyBody>, GatewayError> {
    timer.as_mut().reset(Instant::now() + timeout);
    let sent = poll_fn(|cx| {
        let had_budget = coop::has_budget_remaining();
        if let Poll::Ready(r) = sending.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        // As `tokio::time::timeout` does: an exchange that spent the task's budget (an
        // upstream flooding interim heads, a fast upload) must not keep the deadline from
        // firing, and a budget-limited timer would never fire then.
        let fired = if had_budget && !coop::has_budget_remaining() {
            pin!(coop::unconstrained(timer.as_mut())).poll(cx)
        } else {
            timer.as_mut().poll(cx)
        };
        fired.map(|()| None)
    })
    .await;
    let mut resp = match sent {
        None => return Err(GatewayError::UpstreamTimeout(timeout)),
        Some(Err(e)) => return Err(classify(&e)),
        Some(Ok(r)) => r,
    };
    clean_response(resp.headers_mut());
    Ok(resp.map(ProxyBody::Upstream))
}

fn upstream_uri(
    origin: &str,
    base: &str,
    route: &RouteInfo,
    path: &str,
    captures: &Captures,
    query: Option<&str>,
) -> Result<Uri, GatewayError> {
    let mut s = String::with_capacity(
        origin.len() + base.len() + path.len() + query.map_or(0, |q| q.len() + 1),
    );
    s.push_str(origin);
    s.push_str(base);
    match &route.rewrite {
        Some(rw) => rw.apply(path, captures, &mut s),
        None => s.push_str(path),
    }
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    // The parts were all checked; a failure here is the gateway's own bug, reported as such.
    Uri::try_from(s)
        .map_err(|_| GatewayError::BadRequest("the rewritten request target is not valid".into()))
}

/// Sorts an upstream failure into the answer the client gets.
fn classify(e: &UpstreamError) -> GatewayError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = match e {
        UpstreamError::Connect { .. } => return GatewayError::UpstreamConnect,
        UpstreamError::ConnectTimeout { .. } => return GatewayError::UpstreamConnectTimeout,
        UpstreamError::H1(crate::h1::Error::BodyLength) => {
            return GatewayError::BadRequest(
                "the request body does not match its Content-Length".into(),
            );
        }
        UpstreamError::H1(e) => e.source(),
        UpstreamError::Http(e) => e.source(),
    };
    while let Some(s) = src {
        if let Some(t) = s.downcast_ref::<BodyTooLarge>() {
            return GatewayError::PayloadTooLarge { limit: t.limit };
        }
        // The client's body broke (bad chunk framing, a wrong HTTP/2 content-length, a client
        // gone): the client's fault, answered with 400 and a closed connection, never a 502.
        if s.downcast_ref::<ClientBodyError>().is_some() {
            return GatewayError::BadRequest(
                "the request body is malformed or ended before its framing said".into(),
            );
        }
        src = s.source();
    }
    GatewayError::UpstreamReset
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Walking a small map finds what looking each field up finds, repeated lines included.
        #[test]
        fn known_fields_are_found_either_way(fields in proptest::collection::vec(
            (prop_oneof![
                Just("host"), Just("content-length"), Just("x-request-id"), Just("accept"),
                Just("x-request-ids"),
            ], "[a-z0-9]{0,4}"),
            0..24,
        )) {
            let mut h = http::HeaderMap::new();
            for (name, value) in &fields {
                h.append(*name, HeaderValue::from_str(value).unwrap());
            }
            prop_assert_eq!(Known::of(&h), Known::looked_up(&h));
        }
    }
}
