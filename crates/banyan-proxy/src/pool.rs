//! Connections to one endpoint: a stack of idle HTTP/1.1 connections, or one shared HTTP/2
//! connection. Requests take a connection, the response body gives it back when the upstream
//! has sent all of it, and connections idle for longer than the service's idle timeout are
//! closed by a sweeper. No hashing, no extra task per request: the pool is found through the
//! endpoint the router picked, and an HTTP/1.1 connection is driven by the request's own task
//! (see [`crate::h1`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use banyan_model::UpstreamProtocol;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::body::{BoxError, LimitedBody};
use crate::h1;
use crate::proxy::Field;
use crate::sanitize::Added;

/// A request on its way to an upstream, until its response head arrives.
pub type Sending =
    Pin<Box<dyn Future<Output = Result<Response<UpstreamBody>, UpstreamError>> + Send>>;

/// What makes connections to one endpoint interchangeable between services.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransportKey {
    pub protocol: UpstreamProtocol,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_idle: usize,
}

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connecting to {authority} failed: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("connecting to {authority} timed out")]
    ConnectTimeout { authority: String },
    #[error(transparent)]
    H1(#[from] h1::Error),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// The connections to one endpoint under one set of transport settings. Shared by every
/// snapshot whose services use that endpoint with those settings, so a reload keeps them.
pub struct EndpointPool {
    authority: String,
    transport: TransportKey,
    idle: Mutex<Idle>,
    /// Held while an HTTP/2 connection is being opened, so that concurrent requests wait for
    /// it instead of each opening their own.
    h2_opening: tokio::sync::Mutex<()>,
    sweeper: Weak<Sweeper>,
}

#[derive(Default)]
struct Idle {
    /// HTTP/1.1 connections waiting for a request, the most recently used last.
    h1: Vec<(Box<h1::Conn>, Instant)>,
    /// The multiplexed HTTP/2 connection, if one is open, and when a request last used it.
    h2: Option<(http2::SendRequest<LimitedBody>, Instant)>,
}

impl std::fmt::Debug for EndpointPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPool")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl EndpointPool {
    pub(crate) fn new(authority: String, transport: TransportKey, sweeper: Weak<Sweeper>) -> Self {
        Self {
            authority,
            transport,
            idle: Mutex::new(Idle::default()),
            h2_opening: tokio::sync::Mutex::new(()),
            sweeper,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends the request (origin-form target for HTTP/1.1, absolute for HTTP/2), with the
    /// fields the gateway adds, on a pooled connection, or a new one. `length` is the
    /// client's `Content-Length` field. A request that an idle connection closed before taking is
    /// sent again on the next, so a keep-alive race with the upstream costs no request.
    /// The future comes boxed, built to hold only what its protocol needs: for HTTP/1.1 the
    /// request already encoded (the head is not kept), under 1 KiB, where the allocator's
    /// fast path serves it.
    pub fn send(
        self: &Arc<Self>,
        mut head: http::request::Parts,
        added: &Added,
        length: &Field,
        body: LimitedBody,
    ) -> Sending {
        let pool = Arc::clone(self);
        match self.transport.protocol {
            UpstreamProtocol::Http1 => {
                let exchange = h1::Exchange::new(&head, added, length, body);
                // Encoded: the map can take another head.
                crate::maps::give(head.headers);
                Box::pin(pool.send_h1(exchange))
            }
            UpstreamProtocol::Http2 => {
                added.insert_into(&mut head.headers);
                // What the client's connection left in them is not for the upstream's.
                head.extensions.clear();
                Box::pin(pool.send_h2(Request::from_parts(head, body)))
            }
        }
    }

    async fn send_h1(
        self: Arc<Self>,
        mut exchange: h1::Exchange,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        // At most one re-send: a request that meets a second quiet close may be what closes
        // them, and is not replayed across the pool.
        let mut resent = false;
        while let Some(conn) = self.checkout_h1() {
            match exchange.run(conn, &self).await {
                Ok(resp) => return Ok(resp.map(UpstreamBody::h1)),
                Err(h1::Failed {
                    error,
                    again: Some(again),
                }) if !resent => {
                    resent = true;
                    tracing::debug!(upstream = %self.authority, %error, "pooled connection closed under the request; sent again");
                    exchange = again;
                }
                Err(failed) => return Err(failed.error.into()),
            }
        }
        // Opening a connection is the rare path; boxed, its large future does not weigh on
        // every request's future (which is moved several times per request).
        let conn = h1::Conn::new(Box::pin(self.connect()).await?);
        match exchange.run(conn, &self).await {
            Ok(resp) => Ok(resp.map(UpstreamBody::h1)),
            Err(failed) => Err(failed.error.into()),
        }
    }

    /// The most recently used idle connection that can take a request. Closed and expired
    /// ones are dropped on the way.
    fn checkout_h1(&self) -> Option<Box<h1::Conn>> {
        let mut idle = self.lock();
        while let Some((mut conn, since)) = idle.h1.pop() {
            if since.elapsed() <= self.transport.idle_timeout && conn.is_usable() {
                return Some(conn);
            }
        }
        None
    }

    pub(crate) fn checkin_h1(&self, conn: Box<h1::Conn>) {
        let mut idle = self.lock();
        if idle.h1.len() < self.transport.max_idle {
            idle.h1.push((conn, Instant::now()));
        }
    }

    /// A request without a body that the upstream refused unprocessed (RST_STREAM with
    /// REFUSED_STREAM, or a stream above a GOAWAY's last stream id) is sent once more: RFC 9113
    /// 8.7 says such requests can be retried safely. One with a body cannot be: it is gone.
    async fn send_h2(
        self: Arc<Self>,
        req: Request<LimitedBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let again = req.body().is_end_stream().then(|| bodiless_copy(&req));
        match (self.send_h2_once(req).await, again) {
            (Err(UpstreamError::Http(e)), Some(again)) if refused_unprocessed(&e) => {
                tracing::debug!(upstream = %self.authority, error = %e, "refused unprocessed; sent again");
                self.send_h2_once(again).await
            }
            (sent, _) => sent,
        }
    }

    async fn send_h2_once(
        self: &Arc<Self>,
        req: Request<LimitedBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let mut req = req;
        if let Some(mut tx) = self.shared_h2() {
            match tx.try_send_request(req).await {
                Ok(resp) => return Ok(resp.map(UpstreamBody::unpooled)),
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => return Err(e.into_error().into()),
                },
            }
        }
        let mut tx = {
            let _one_at_a_time = self.h2_opening.lock().await;
            match self.shared_h2() {
                Some(tx) => tx,
                None => Box::pin(self.open_h2()).await?,
            }
        };
        let resp = tx.send_request(req).await?;
        Ok(resp.map(UpstreamBody::unpooled))
    }

    /// The open HTTP/2 connection, marked as used now.
    fn shared_h2(&self) -> Option<http2::SendRequest<LimitedBody>> {
        let mut idle = self.lock();
        match &mut idle.h2 {
            Some((tx, used)) if !tx.is_closed() => {
                *used = Instant::now();
                Some(tx.clone())
            }
            _ => None,
        }
    }

    async fn open_h2(&self) -> Result<http2::SendRequest<LimitedBody>, UpstreamError> {
        let io = TokioIo::new(self.connect().await?);
        let (tx, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(20))
            .handshake::<_, LimitedBody>(io)
            .await?;
        self.drive(conn);
        self.lock().h2 = Some((tx.clone(), Instant::now()));
        Ok(tx)
    }

    /// Runs a connection's I/O in its own task until the connection ends.
    fn drive<C>(&self, conn: C)
    where
        C: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
    {
        let authority = self.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(upstream = %authority, error = %e, "upstream connection ended");
            }
        });
    }

    async fn connect(&self) -> Result<TcpStream, UpstreamError> {
        if let Some(s) = self.sweeper.upgrade() {
            s.start();
        }
        let connecting = TcpStream::connect(self.authority.as_str());
        let stream = match tokio::time::timeout(self.transport.connect_timeout, connecting).await {
            Err(_) => {
                return Err(UpstreamError::ConnectTimeout {
                    authority: self.authority.clone(),
                });
            }
            Ok(Err(source)) => {
                return Err(UpstreamError::Connect {
                    authority: self.authority.clone(),
                    source,
                });
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Closes idle connections past the idle timeout, and forgets closed ones.
    fn sweep(&self) {
        let mut idle = self.lock();
        let limit = self.transport.idle_timeout;
        idle.h1
            .retain_mut(|(conn, since)| since.elapsed() <= limit && conn.is_usable());
        // Requests still on the connection keep it open until they end.
        if idle
            .h2
            .as_ref()
            .is_some_and(|(tx, used)| tx.is_closed() || used.elapsed() > limit)
        {
            idle.h2 = None;
        }
    }
}

fn bodiless_copy(req: &Request<LimitedBody>) -> Request<LimitedBody> {
    let mut copy = Request::new(LimitedBody::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// Whether the upstream said it did not process the request's stream.
fn refused_unprocessed(e: &hyper::Error) -> bool {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<h2::Error>() {
            let refused = h.is_reset() && h.reason() == Some(h2::Reason::REFUSED_STREAM);
            // h2 gives a peer's GOAWAY to exactly the streams above its last stream id.
            return h.is_remote() && (refused || h.is_go_away());
        }
        src = s.source();
    }
    false
}

/// One task for all the pools of a registry, started with the first upstream connection (a
/// registry may be built before any runtime exists) and ending with the registry.
#[derive(Default)]
pub(crate) struct Sweeper {
    pools: Mutex<Vec<Weak<EndpointPool>>>,
    started: std::sync::atomic::AtomicBool,
}

const SWEEP_EVERY: Duration = Duration::from_millis(500);

impl Sweeper {
    pub(crate) fn register(&self, pool: &Arc<EndpointPool>) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(pool));
    }

    fn start(self: Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(sweeper) = weak.upgrade() else {
                    return;
                };
                let pools: Vec<Arc<EndpointPool>> = {
                    let mut pools = sweeper.pools.lock().unwrap_or_else(|p| p.into_inner());
                    pools.retain(|p| p.strong_count() > 0);
                    pools.iter().filter_map(Weak::upgrade).collect()
                };
                for p in pools {
                    p.sweep();
                }
            }
        });
    }
}

/// The upstream's response body: read by the request's task from an HTTP/1.1 connection
/// (which goes back to the pool at the body's end), or from hyper's HTTP/2 client.
#[derive(Debug)]
pub struct UpstreamBody(Inner);

#[derive(Debug)]
enum Inner {
    H1(h1::H1Body),
    H2(Incoming),
}

impl UpstreamBody {
    fn h1(body: h1::H1Body) -> Self {
        Self(Inner::H1(body))
    }

    fn unpooled(body: Incoming) -> Self {
        Self(Inner::H2(body))
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().0 {
            Inner::H1(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Inner::H2(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::H1(b) => b.is_end_stream(),
            Inner::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::H1(b) => b.size_hint(),
            Inner::H2(b) => b.size_hint(),
        }
    }
}
