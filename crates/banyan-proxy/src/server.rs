//! Listeners and connections: hyper's server with hardened settings, an inactivity watchdog per
//! connection, and graceful drain.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
}

/// hyper's server builder with the settings of `HARDENING.md`.
pub fn http_builder(s: &ConnSettings) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // hyper answers a head past its own buffer with a bare 431; keep that buffer above the
    // configured limit so that the gateway's own check answers first, with problem+json.
    let buf = (s.max_header_bytes * 2).max(16 * 1024);
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_read_timeout)
        .max_buf_size(buf)
        .max_headers((s.max_headers * 2).clamp(100, 1000))
        .keep_alive(true)
        .half_close(false);
    b.http2()
        .timer(TokioTimer::new())
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
    graceful: Arc<GracefulShutdown>,
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
        let graceful = Arc::new(GracefulShutdown::new());
        let (stop, _) = watch::channel(false);
        let builder = Arc::new(http_builder(&settings));
        let mut accepting = Vec::new();
        let mut addrs = Vec::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            addrs.push(listener.local_addr()?);
            let ctx = AcceptCtx {
                gateway: gateway.clone(),
                builder: builder.clone(),
                graceful: graceful.clone(),
                idle: settings.idle_timeout,
                index,
            };
            accepting.push(tokio::spawn(accept_loop(listener, ctx, stop.subscribe())));
        }
        Ok(Server {
            gateway,
            graceful,
            stop,
            accepting,
            addrs,
            draining: Arc::new(AtomicBool::new(false)),
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
        // The accept loops held the only other references.
        match Arc::try_unwrap(self.graceful) {
            Ok(g) => tokio::time::timeout(deadline, g.shutdown()).await.is_ok(),
            Err(_) => false,
        }
    }
}

struct AcceptCtx {
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
    idle: Duration,
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
                let conn = ConnInfo::new(peer, ctx.index);
                tokio::spawn(serve_connection(
                    stream,
                    conn,
                    ctx.gateway.clone(),
                    ctx.builder.clone(),
                    ctx.graceful.watcher(),
                    ctx.idle,
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

async fn serve_connection(
    stream: TcpStream,
    info: ConnInfo,
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    idle: Duration,
) {
    let activity = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(CountingIo {
        inner: stream,
        activity: activity.clone(),
    });
    let peer = info.peer.addr;
    let state = Arc::new(ConnState {
        gateway,
        info,
        in_flight: in_flight.clone(),
    });
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move {
            state.in_flight.fetch_add(1, Ordering::Relaxed);
            let resp = state.gateway.handle(&state.info, req).await;
            state.in_flight.fetch_sub(1, Ordering::Relaxed);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = watcher.watch(builder.serve_connection(io, svc).into_owned());
    // The connection runs in its own task; this one only wakes once per idle period, so the
    // watchdog costs nothing per request.
    let mut task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    });
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = &mut task => return,
            _ = tokio::time::sleep(idle) => {
                let now = activity.load(Ordering::Relaxed);
                if now == seen && in_flight.load(Ordering::Relaxed) == 0 {
                    tracing::debug!(%peer, "closing idle connection");
                    task.abort();
                    return;
                }
                seen = now;
            }
        }
    }
}

/// What every request on one connection shares.
struct ConnState {
    gateway: Arc<Gateway>,
    info: ConnInfo,
    in_flight: Arc<AtomicUsize>,
}

/// A socket that counts reads and writes, so that the watchdog can tell an idle connection.
struct CountingIo {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
}

impl CountingIo {
    fn touch(&self) {
        // One writer (this connection's task): a plain store is enough.
        let a = &self.activity;
        a.store(a.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

impl AsyncRead for CountingIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
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
