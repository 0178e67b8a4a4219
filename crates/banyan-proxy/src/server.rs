//! Listeners and connections: the gateway's own HTTP/1.1 server, hyper's HTTP/2 server with
//! hardened settings, a watchdog per connection for its timeouts, and graceful drain.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::body::ClientBody;
use crate::h1::READ_BLOCK;
use crate::h1_server::{self, Limits};
use crate::proxy::{ConnInfo, Gateway};
use crate::snapshot::Snapshot;

/// Connection-level settings, fixed at start (a reload does not change them).
#[derive(Debug, Clone)]
pub struct ConnSettings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

impl ConnSettings {
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let c = &s.config.server;
        Self {
            header_read_timeout: c.header_read_timeout.get(),
            idle_timeout: c.idle_timeout.get(),
            max_header_bytes: c.max_header_bytes.get() as usize,
            max_headers: c.max_headers,
        }
    }

    /// What the HTTP/1.1 head parser allows.
    fn limits(&self) -> Limits {
        Limits {
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            // The http crate's own bound; the configured one is checked per snapshot.
            max_uri: 65_534,
        }
    }
}

/// hyper's HTTP/2 server with the settings of `HARDENING.md`.
pub fn http2_builder(s: &ConnSettings) -> http2::Builder<TokioExecutor> {
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_concurrent_streams(100)
        // HTTP/2 counts 32 bytes per field on top of name and value; leave room so that the
        // gateway's own check (problem+json 431) answers before h2's bare refusal.
        .max_header_list_size((s.max_header_bytes * 2 + 32 * s.max_headers) as u32)
        .max_pending_accept_reset_streams(Some(50))
        .max_local_error_reset_streams(Some(256))
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_send_buf_size(256 * 1024)
        // Pings find dead peers on long streams. They also count as traffic for the idle
        // watchdog, so they come at twice the idle timeout: an idle connection still sees a
        // whole quiet period and is closed.
        .keep_alive_interval(Some((s.idle_timeout * 2).max(Duration::from_secs(20))))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

/// A running data plane: accept loops and the connections they started.
pub struct Server {
    gateway: Arc<Gateway>,
    /// Set to `true` to drain. Every connection holds a receiver until it ends, so the
    /// channel closes when the last one has.
    stop: watch::Sender<bool>,
    accepting: Vec<tokio::task::JoinHandle<()>>,
    pub addrs: Vec<SocketAddr>,
    draining: Arc<AtomicBool>,
}

impl Server {
    /// Binds every listener of the snapshot's config and starts serving. Fails, serving
    /// nothing, when any address cannot be bound.
    pub async fn start(gateway: Arc<Gateway>) -> io::Result<Server> {
        let snap = gateway.snapshot();
        let settings = ConnSettings::from_snapshot(&snap);
        let mut listeners = Vec::new();
        for l in &snap.config.listeners {
            let listener = TcpListener::bind(&l.address).await.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("listener `{}` cannot bind {}: {e}", l.name, l.address),
                )
            })?;
            listeners.push(listener);
        }
        let (stop, _) = watch::channel(false);
        let draining = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            h2: http2_builder(&settings),
            limits: settings.limits(),
            settings,
        });
        let mut accepting = Vec::new();
        let mut addrs = Vec::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            addrs.push(listener.local_addr()?);
            let ctx = AcceptCtx {
                gateway: gateway.clone(),
                shared: shared.clone(),
                draining: draining.clone(),
                index,
            };
            accepting.push(tokio::spawn(accept_loop(listener, ctx, stop.subscribe())));
        }
        Ok(Server {
            gateway,
            stop,
            accepting,
            addrs,
            draining,
        })
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Set while draining, for readiness.
    pub fn draining(&self) -> Arc<AtomicBool> {
        self.draining.clone()
    }

    /// Stops accepting, asks every connection to finish (HTTP/1.1: after its current
    /// request; HTTP/2: GOAWAY) and waits up to `deadline`. Returns whether all finished.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.draining.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        for h in self.accepting {
            let _ = h.await;
        }
        tokio::time::timeout(deadline, self.stop.closed())
            .await
            .is_ok()
    }
}

/// What every connection of a server shares.
struct Shared {
    settings: ConnSettings,
    limits: Limits,
    h2: http2::Builder<TokioExecutor>,
}

struct AcceptCtx {
    gateway: Arc<Gateway>,
    shared: Arc<Shared>,
    draining: Arc<AtomicBool>,
    index: usize,
}

async fn accept_loop(listener: TcpListener, ctx: AcceptCtx, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let conn = Arc::new(ConnState {
                    gateway: ctx.gateway.clone(),
                    info: ConnInfo::new(peer, ctx.index),
                    watch: ConnWatch::new(),
                    draining: ctx.draining.clone(),
                });
                tokio::spawn(watch_connection(
                    stream,
                    conn,
                    ctx.shared.clone(),
                    stop.clone(),
                ));
            }
            Err(e) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What a connection's tasks share: its gateway and peer, and the clocks its watchdog reads.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub gateway: Arc<Gateway>,
    pub info: ConnInfo,
    pub watch: ConnWatch,
    pub draining: Arc<AtomicBool>,
}

/// A connection's clocks, set by the connection and read by its watchdog. Relaxed atomics:
/// one writer each, and a watchdog that is late by one store only acts a period later.
#[derive(Debug)]
pub(crate) struct ConnWatch {
    start: Instant,
    /// Bumped by every read and write.
    activity: AtomicU64,
    /// Requests waiting for their response head.
    pub in_flight: AtomicUsize,
    /// Nanoseconds after `start` at which the connection began waiting for a request head,
    /// plus one; 0 while it is not waiting for one.
    head_since: AtomicU64,
}

impl ConnWatch {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            activity: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            // The first head's clock runs from the accept.
            head_since: AtomicU64::new(1),
        }
    }

    pub(crate) fn touch(&self) {
        let a = &self.activity;
        a.store(a.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    pub(crate) fn head_started(&self) {
        let t = self.start.elapsed().as_nanos() as u64;
        self.head_since.store(t + 1, Ordering::SeqCst);
    }

    pub(crate) fn head_done(&self) {
        self.head_since.store(0, Ordering::Relaxed);
    }

    /// When the head being waited for is due, if one is.
    fn head_due(&self, within: Duration) -> Option<Instant> {
        match self.head_since.load(Ordering::SeqCst) {
            0 => None,
            t => Some(self.start + Duration::from_nanos(t - 1) + within),
        }
    }
}

/// Runs a connection in a task of its own, and ends it when it breaks a timeout: a request
/// head not complete within `header_read_timeout` of the wait for it starting, or nothing read
/// or written for `idle_timeout` while no request waits for an upstream. It wakes at most once
/// per `header_read_timeout` or at a deadline, never per request. When the server drains, a
/// connection waiting for a request is closed at once (one that is busy closes after its
/// response, by itself).
async fn watch_connection(
    stream: TcpStream,
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let peer = conn.info.peer.addr;
    let (idle, header) = (
        shared.settings.idle_timeout,
        shared.settings.header_read_timeout,
    );
    let mut task = tokio::spawn(serve_connection(stream, conn.clone(), shared, stop.clone()));
    let mut seen = 0;
    let mut idle_at = Instant::now() + idle;
    let mut stopping = *stop.borrow();
    loop {
        let now = Instant::now();
        let w = &conn.watch;
        let waiting = w.head_due(header);
        let end = if stopping && waiting.is_some() {
            Some("closing a connection between requests to drain")
        } else if waiting.is_some_and(|d| d <= now) {
            Some("the request head did not arrive in time")
        } else if now >= idle_at {
            let a = w.activity.load(Ordering::Relaxed);
            let quiet = a == seen && w.in_flight.load(Ordering::Relaxed) == 0;
            seen = a;
            idle_at = now + idle;
            quiet.then_some("closing an idle connection")
        } else {
            None
        };
        if let Some(why) = end {
            tracing::debug!(%peer, why);
            task.abort();
            return;
        }
        // Not waiting for a head now, the connection may begin to any moment without telling
        // this task: it looks again within a head's time, so a late start is never missed.
        let wake = waiting.unwrap_or(now + header).min(idle_at);
        tokio::select! {
            _ = &mut task => return,
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = stop.changed(), if !stopping => stopping = true,
        }
    }
}

/// The HTTP/2 connection preface; a connection that starts with anything else is HTTP/1.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

async fn serve_connection(
    mut stream: TcpStream,
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    // HTTP/1.1 or HTTP/2 with prior knowledge: told apart by the first bytes.
    let mut buf = BytesMut::with_capacity(READ_BLOCK);
    while buf.len() < PREFACE.len() && PREFACE.starts_with(&buf) {
        match stream.read_buf(&mut buf).await {
            Ok(n) if n > 0 => conn.watch.touch(),
            _ => return,
        }
    }
    if !buf.starts_with(PREFACE) {
        return h1_server::serve(stream, buf, conn, shared.limits).await;
    }
    conn.watch.head_done();
    let io = TokioIo::new(CountingIo {
        inner: stream,
        read_first: buf.freeze(),
        conn: conn.clone(),
    });
    let state = conn.clone();
    // Route timers, reused from stream to stream: moving a registered timer's deadline later is
    // an atomic update, where a timer of its own costs each stream a registration and a
    // removal. There are never more than the streams open at once.
    let timers: Arc<std::sync::Mutex<Vec<Pin<Box<tokio::time::Sleep>>>>> = Arc::default();
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let state = state.clone();
        let timers = timers.clone();
        async move {
            state.watch.in_flight.fetch_add(1, Ordering::Relaxed);
            let lock = || {
                timers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            };
            let spare = lock().pop();
            let mut timer = spare.unwrap_or_else(|| Box::pin(tokio::time::sleep(Duration::ZERO)));
            // Boxed: hyper moves each stream's future into a task of its own. Measured again
            // since the request's future shrank (`Gateway::handle`): about 350 instructions a
            // request less than moving it inline.
            let resp = Box::pin(state.gateway.handle(
                &state.info,
                req.map(ClientBody::H2),
                None,
                timer.as_mut(),
            ))
            .await;
            lock().push(timer);
            state.watch.in_flight.fetch_sub(1, Ordering::Relaxed);
            Ok::<_, Infallible>(resp.into_response())
        }
    });
    let mut served = std::pin::pin!(shared.h2.serve_connection(io, svc));
    let done = tokio::select! {
        r = served.as_mut() => Some(r),
        _ = stop.wait_for(|s| *s) => None,
    };
    let result = match done {
        Some(r) => r,
        None => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %conn.info.peer.addr, error = %e, "connection ended with an error");
    }
}

/// An HTTP/2 client's socket, which counts reads and writes for the watchdog, and first gives
/// back the bytes read to tell the protocol.
struct CountingIo {
    inner: TcpStream,
    read_first: Bytes,
    conn: Arc<ConnState>,
}

impl CountingIo {
    fn touch(&self) {
        self.conn.watch.touch();
    }
}

impl AsyncRead for CountingIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.read_first.is_empty() {
            let n = this.read_first.len().min(buf.remaining());
            buf.put_slice(&this.read_first[..n]);
            this.read_first.advance(n);
            return Poll::Ready(Ok(()));
        }
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) {
            this.touch();
        }
        r
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(_))) {
            this.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(_))) {
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
