//! Listeners and connections: the gateway's own HTTP/1.1 server, its HTTP/2 server on h2's
//! protocol engine, a watchdog per connection for its timeouts, and graceful drain.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::h1::READ_BLOCK;
use crate::h1_server::{self, Limits};
use crate::h2_server;
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
            h2: h2_server::Config::new(&settings),
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
    h2: h2_server::Config,
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
    /// Bumped by every read and write (on HTTP/2, only while a stream is open), and when an
    /// HTTP/2 stream opens or ends.
    activity: AtomicU64,
    /// Requests waiting for their response head.
    pub in_flight: AtomicUsize,
    /// Open HTTP/2 streams: without one, the frames of an HTTP/2 connection (PING, SETTINGS,
    /// WINDOW_UPDATE) are not activity, so a client cannot hold an idle connection open with
    /// them.
    streams: AtomicUsize,
    /// Nanoseconds after `start` at which the connection began waiting for a request head,
    /// plus one; 0 while it is not waiting for one.
    head_since: AtomicU64,
}

impl ConnWatch {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            activity: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            // The first head's clock runs from the accept.
            head_since: AtomicU64::new(1),
        }
    }

    /// A count that moves with every read and write.
    pub(crate) fn activity(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }

    pub(crate) fn touch(&self) {
        let a = &self.activity;
        a.store(a.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    /// An HTTP/2 stream opened: activity, and the connection's frames are activity again.
    pub(crate) fn stream_opened(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    /// An HTTP/2 stream ended: the idle clock runs from here once none is open.
    pub(crate) fn stream_ended(&self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
        self.touch();
    }

    /// A read or write on an HTTP/2 connection: activity while a stream is open.
    fn touch_h2(&self) {
        if self.streams.load(Ordering::Relaxed) > 0 {
            self.touch();
        }
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
/// or written for `idle_timeout` while no request waits for an upstream (on HTTP/2: no stream
/// opened, ended or carried a byte for that long). It wakes at most once per
/// `header_read_timeout` or at a deadline, never per request. When the server drains, a
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
    stop: watch::Receiver<bool>,
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
    let io = CountingIo {
        inner: stream,
        read_first: buf.freeze(),
        conn: conn.clone(),
    };
    h2_server::serve(io, conn, &shared.h2, stop).await;
}

/// An HTTP/2 client's socket, which counts reads and writes for the watchdog while a stream is
/// open, and first gives back the bytes read to tell the protocol.
struct CountingIo {
    inner: TcpStream,
    read_first: Bytes,
    conn: Arc<ConnState>,
}

impl CountingIo {
    fn touch(&self) {
        self.conn.watch.touch_h2();
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
