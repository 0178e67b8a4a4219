//! The gateway's HTTP/2 server: the h2 crate's protocol engine with the settings of
//! `HARDENING.md`, and a connection task that drives its own streams.
//!
//! A stream runs inside its connection's task, not in a task of its own: it costs no spawn, and
//! what a stream queues is written by the connection's next poll within the same wake-up. A
//! connection's streams so never run in parallel, as a connection in nginx and Envoy belongs to
//! one worker. A stream the client resets is dropped at once, which cancels its upstream
//! exchange; when the connection ends, its streams end with it.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::SendResponse;
use h2::{Ping, PingPong, Reason, RecvStream, SendStream};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, HeaderValue};
use http::{Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::body::{ClientBody, ProxyBody};
use crate::proxy::Answer;
use crate::server::{ConnSettings, ConnState};

/// How every HTTP/2 connection of a server is set up.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    builder: h2::server::Builder,
    keep_alive_interval: Duration,
    keep_alive_timeout: Duration,
}

impl Config {
    pub(crate) fn new(s: &ConnSettings) -> Self {
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(MAX_STREAMS)
            // HTTP/2 counts 32 bytes per field on top of name and value; leave room so that the
            // gateway's own check (problem+json 431) answers before h2's bare refusal.
            .max_header_list_size((s.max_header_bytes * 2 + 32 * s.max_headers) as u32)
            // Rapid reset (CVE-2023-44487): streams reset before the gateway took them, and
            // streams the gateway had to reset for the client's errors.
            .max_pending_accept_reset_streams(50)
            .max_local_error_reset_streams(Some(256))
            // A stream answered before its body was read is reset (NO_ERROR), and the client's
            // data already on its way must be ignored, not answered with a reset of our own that
            // counts towards the 256 above. h2 ignores it for streams it remembers, a second
            // each; its default of 50 made a connection with more than 50 such uploads a second
            // look like an abuser and closed it.
            .max_concurrent_reset_streams(RESETS_REMEMBERED)
            .initial_window_size(64 * 1024)
            .initial_connection_window_size(1024 * 1024)
            .max_send_buffer_size(256 * 1024);
        Self {
            builder,
            // Pings find dead peers on long streams. They also count as traffic for the idle
            // watchdog, so they come at twice the idle timeout: an idle connection still sees
            // a whole quiet period and is closed.
            keep_alive_interval: (s.idle_timeout * 2).max(Duration::from_secs(20)),
            keep_alive_timeout: Duration::from_secs(20),
        }
    }

    /// The same, pinging after `interval` without traffic and giving up `timeout` later.
    #[cfg(test)]
    fn with_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keep_alive_interval = interval;
        self.keep_alive_timeout = timeout;
        self
    }
}

/// Streams a client may have open at once on one connection.
const MAX_STREAMS: u32 = 100;

/// Streams reset by the gateway that a connection remembers (for a second each), so that data
/// the client sent before it saw the reset is ignored quietly.
const RESETS_REMEMBERED: usize = 10 * MAX_STREAMS as usize;

/// Counts the streams a client resets early, as Envoy counts premature resets: before their
/// response head and less than [`EARLY`] after they were taken. h2 bounds the resets of streams
/// not yet taken, but one that is taken costs the gateway a route lookup and perhaps an
/// upstream request, however soon its reset follows. Once at least `MIN_RESETS` streams were
/// reset early and they are half the streams or more, the connection is closed with
/// `ENHANCE_YOUR_CALM`. A client that gives up on slow answers, as a browser leaving a page
/// does, resets streams that lived longer than that, and keeps its connection.
#[derive(Default)]
struct ResetCount {
    streams: u64,
    early: u64,
}

const MIN_RESETS: u64 = 100;

/// A reset this soon after its stream was taken counts as early.
const EARLY: Duration = Duration::from_secs(1);

impl ResetCount {
    /// Counts a stream that ended; true when the connection should be closed.
    fn ended(&mut self, reset_early: bool) -> bool {
        self.streams += 1;
        self.early += u64::from(reset_early);
        self.early >= MIN_RESETS && self.early * 2 >= self.streams
    }
}

/// Serves an HTTP/2 connection whose preface has not been read yet, until it closes. When
/// `stop` turns true the connection is asked to finish (GOAWAY) and its streams to end.
pub(crate) async fn serve<I>(
    io: I,
    conn: Arc<ConnState>,
    config: &Config,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut h2 = match config.builder.handshake::<_, Bytes>(io).await {
        Ok(h2) => h2,
        Err(e) => {
            tracing::debug!(peer = %conn.info.peer.addr, error = %e, "HTTP/2 handshake failed");
            return;
        }
    };
    let mut keep_alive = KeepAlive::new(h2.ping_pong(), config, &conn);
    let mut streams = FuturesUnordered::new();
    // Route timers, reused from stream to stream: moving a registered timer's deadline later
    // is an atomic update, where a timer of its own costs each stream a registration and a
    // removal. There are never more than the streams open at once.
    let mut timers: Vec<Pin<Box<Sleep>>> = Vec::new();
    let mut stopped = pin!(stop.wait_for(|s| *s));
    let mut stopping = false;
    let mut resets = ResetCount::default();
    let ended = poll_fn(|cx| {
        if !stopping && stopped.as_mut().poll(cx).is_ready() {
            stopping = true;
            h2.graceful_shutdown();
        }
        keep_alive.poll(cx, &mut h2, &conn);
        // When the streams accepted in this wake-up began: one clock read for all of them.
        let mut now = None;
        loop {
            // Streams first: what they queue, the connection's poll below writes.
            while let Poll::Ready(Some(ended)) = streams.poll_next_unpin(cx) {
                conn.watch.stream_ended();
                let Some(ended): Option<Ended> = ended else {
                    tracing::error!(peer = %conn.info.peer.addr, "a stream panicked; it was reset");
                    continue;
                };
                timers.push(ended.timer);
                if resets.ended(ended.reset_early) {
                    tracing::debug!(peer = %conn.info.peer.addr, "too many streams reset early, closing the connection");
                    h2.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                }
            }
            match ready!(h2.poll_accept(cx)) {
                Some(Ok((req, respond))) => {
                    let timer = timers
                        .pop()
                        .unwrap_or_else(|| Box::pin(tokio::time::sleep(Duration::ZERO)));
                    let taken = *now.get_or_insert_with(Instant::now);
                    let stream = stream(conn.clone(), req, respond, timer, taken);
                    streams.push(Isolated(Box::pin(stream)));
                    conn.watch.stream_opened();
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
    })
    .await;
    if let Err(e) = ended {
        tracing::debug!(peer = %conn.info.peer.addr, error = %e, "connection ended with an error");
    }
}

/// A stream's future, in which a panic ends that stream alone (its handles, dropped, reset
/// it), as it would in a task of its own: the connection and its other streams go on.
struct Isolated<F>(Pin<Box<F>>);

impl<F: Future<Output = Ended>> Future for Isolated<F> {
    /// `None` after a panic.
    type Output = Option<Ended>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Ended>> {
        let stream = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stream.poll(cx))) {
            Ok(polled) => polled.map(Some),
            Err(_) => Poll::Ready(None),
        }
    }
}

/// How a stream ended, for the connection's count of streams reset by their client.
struct Ended {
    /// The route timer the stream was lent.
    timer: Pin<Box<Sleep>>,
    /// The client reset the stream before its response head was sent, less than [`EARLY`]
    /// after it was taken.
    reset_early: bool,
}

/// One request: handled, answered, and its body sent.
async fn stream(
    conn: Arc<ConnState>,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    mut timer: Pin<Box<Sleep>>,
    taken: Instant,
) -> Ended {
    // A stream reset before it was taken never gets here: h2 drops it. Frames are read only
    // between the connection's polls of its streams, so no reset of this stream was read
    // before the first poll below.
    let head_only = req.method() == Method::HEAD;
    let watch = &conn.watch;
    watch.in_flight.fetch_add(1, Ordering::Relaxed);
    let answer = {
        let req = req.map(|recv| {
            ClientBody::H2(RequestBody {
                recv,
                data_done: false,
            })
        });
        let mut handling = pin!(conn.gateway.handle(&conn.info, req, None, timer.as_mut()));
        poll_fn(|cx| match handling.as_mut().poll(cx) {
            Poll::Ready(answer) => Poll::Ready(Some(answer)),
            // A client that resets the stream cancels it, so no upstream works on for no one.
            Poll::Pending => respond.poll_reset(cx).map(|_| None),
        })
        .await
    };
    watch.in_flight.fetch_sub(1, Ordering::Relaxed);
    let Some(answer) = answer else {
        return Ended {
            timer,
            reset_early: taken.elapsed() < EARLY,
        };
    };
    if let Some((body, tx)) = send_head(answer, respond, head_only) {
        pipe(body, tx).await;
    }
    Ended {
        timer,
        reset_early: false,
    }
}

/// Sends the response head; gives back the body and where to send it, unless the head ended
/// the stream (an empty body, or the answer to a HEAD). Not async: a stream's future stays
/// small without the head in it.
fn send_head(
    answer: Answer,
    mut respond: SendResponse<Bytes>,
    head_only: bool,
) -> Option<(ProxyBody, SendStream<Bytes>)> {
    let (mut parts, body) = answer.into_response().into_parts();
    let gateway_made = matches!(body, ProxyBody::Full(_));
    if gateway_made {
        // It may say `Connection: close`, meant for HTTP/1.1 clients, which HTTP/2 forbids.
        // An upstream's connection fields were removed on arrival.
        parts.headers.remove(CONNECTION);
    }
    if !parts.headers.contains_key(DATE) {
        parts
            .headers
            .insert(DATE, crate::date::with_now(HeaderValue::clone));
    }
    let end = head_only || body.is_end_stream();
    // The length an HTTP/1.1 upstream framed its body with travels as the body's size; a
    // HEAD says the length a GET would have had (an upstream's answer to HEAD kept its field).
    let length = (!body.is_end_stream() && (!head_only || gateway_made))
        .then(|| body.size_hint().exact())
        .flatten();
    if let Some(n) = length {
        parts
            .headers
            .entry(CONTENT_LENGTH)
            .or_insert_with(|| HeaderValue::from(n));
    }
    match respond.send_response(Response::from_parts(parts, ()), end) {
        Ok(tx) => (!end).then_some((body, tx)),
        Err(e) => {
            tracing::warn!(error = %e, "an HTTP/2 response head was refused; the stream is reset");
            respond.send_reset(Reason::INTERNAL_ERROR);
            None
        }
    }
}

/// Passes a response body to the client, a chunk at a time as flow control allows. The first
/// chunk goes at once; each later one waits until h2 has window for what it holds, so a
/// stream never buffers more than one chunk beyond what the client will take.
async fn pipe(mut body: ProxyBody, mut tx: SendStream<Bytes>) {
    let mut held: Option<(Bytes, bool)> = None;
    let mut first = true;
    let piped = poll_fn(|cx| {
        loop {
            if let Some((_, end)) = &held {
                let end = *end;
                while tx.capacity() == 0 {
                    match tx.poll_capacity(cx) {
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                        // The stream is over: the client reset it.
                        Poll::Ready(None) => return Poll::Ready(Ok(())),
                        Poll::Pending => return reset_or_pending(&mut tx, cx),
                    }
                }
                if let Some((data, _)) = held.take() {
                    tx.send_data(data, end)?;
                }
                if end {
                    return Poll::Ready(Ok(()));
                }
            }
            let frame = match Pin::new(&mut body).poll_frame(cx) {
                Poll::Pending => return reset_or_pending(&mut tx, cx),
                Poll::Ready(None) => return Poll::Ready(tx.send_data(Bytes::new(), true)),
                Poll::Ready(Some(Err(e))) => {
                    // The upstream failed mid-body: the client must see the response cut
                    // short, not complete.
                    tracing::debug!(error = %e, "response body failed");
                    tx.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    let end = body.is_end_stream();
                    if data.is_empty() && !end {
                        continue;
                    }
                    if std::mem::take(&mut first) || data.is_empty() {
                        tx.send_data(data, end)?;
                        if end {
                            return Poll::Ready(Ok(()));
                        }
                    } else {
                        // A claim of one byte, not the chunk's length: h2 raises it to what is
                        // buffered when the chunk is sent, and a large claim would hold the
                        // connection's window against other streams while waiting.
                        tx.reserve_capacity(1);
                        held = Some((data, end));
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        tx.reserve_capacity(0);
                        return Poll::Ready(tx.send_trailers(trailers));
                    }
                }
            }
        }
    })
    .await;
    if let Err(e) = piped {
        // Never let the client take a cut-off body for a whole one.
        tracing::debug!(error = %e, "response body not sent");
        tx.send_reset(Reason::INTERNAL_ERROR);
    }
}

/// Pending, after registering for the client's reset of the stream; ready if it came.
fn reset_or_pending(
    tx: &mut SendStream<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), h2::Error>> {
    tx.poll_reset(cx).map(|_| Ok(()))
}

/// A client's HTTP/2 request body. What is read is handed back to the client as window at
/// once: the gateway holds no more than the chunk it is passing on.
#[derive(Debug)]
pub struct RequestBody {
    recv: RecvStream,
    data_done: bool,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = self.get_mut();
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                // A reset of any kind, even NO_ERROR or CANCEL, cuts the body short: passing
                // it on as complete would hand the upstream a truncated upload.
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.recv.is_end_stream() {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

/// Pings a connection that has been quiet for a while, and closes it when the pong does not
/// come in time. It looks once per interval: a connection is pinged between one and two
/// intervals after its last traffic.
struct KeepAlive {
    ping: Option<PingPong>,
    timer: Pin<Box<Sleep>>,
    interval: Duration,
    timeout: Duration,
    /// The connection's activity count when last looked at.
    seen: u64,
    waiting: bool,
}

impl KeepAlive {
    fn new(ping: Option<PingPong>, config: &Config, conn: &ConnState) -> Self {
        Self {
            ping,
            timer: Box::pin(tokio::time::sleep(config.keep_alive_interval)),
            interval: config.keep_alive_interval,
            timeout: config.keep_alive_timeout,
            seen: conn.watch.activity(),
            waiting: false,
        }
    }

    fn poll<T, B>(
        &mut self,
        cx: &mut Context<'_>,
        h2: &mut h2::server::Connection<T, B>,
        conn: &ConnState,
    ) where
        T: AsyncRead + AsyncWrite + Unpin,
        B: bytes::Buf,
    {
        if !self.step(cx, h2, conn) {
            self.ping = None;
        }
    }

    /// False once pings are over: the pong did not come, or the connection is failing.
    fn step<T, B>(
        &mut self,
        cx: &mut Context<'_>,
        h2: &mut h2::server::Connection<T, B>,
        conn: &ConnState,
    ) -> bool
    where
        T: AsyncRead + AsyncWrite + Unpin,
        B: bytes::Buf,
    {
        let Some(ping) = self.ping.as_mut() else {
            return true;
        };
        if self.waiting {
            match ping.poll_pong(cx) {
                Poll::Ready(Ok(_)) => {
                    self.waiting = false;
                    self.seen = conn.watch.activity();
                    self.timer.as_mut().reset(Instant::now() + self.interval);
                }
                Poll::Ready(Err(_)) => return false,
                Poll::Pending => {}
            }
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.waiting {
                tracing::debug!(peer = %conn.info.peer.addr, "no pong in time, closing the connection");
                h2.abrupt_shutdown(Reason::NO_ERROR);
                return false;
            }
            let now = Instant::now();
            let activity = conn.watch.activity();
            if activity != self.seen {
                self.seen = activity;
                self.timer.as_mut().reset(now + self.interval);
            } else if ping.send_ping(Ping::opaque()).is_ok() {
                self.waiting = true;
                self.timer.as_mut().reset(now + self.timeout);
                // Registers for the pong.
                if let Poll::Ready(Err(_)) = ping.poll_pong(cx) {
                    return false;
                }
            } else {
                self.timer.as_mut().reset(now + self.interval);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicBool;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::proxy::{ConnInfo, Gateway};
    use crate::server::ConnWatch;

    const PING: u8 = 0x6;
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    const ACK: u8 = 0x1;
    const INTERVAL: Duration = Duration::from_secs(30);
    const TIMEOUT: Duration = Duration::from_secs(20);

    struct Frame {
        kind: u8,
        flags: u8,
        payload: Vec<u8>,
    }

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend([kind, flags, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// The next frame; `None` when the server closed the connection, or sent nothing for ten
    /// minutes (of paused time: a test waits for no clock).
    async fn read_frame(io: &mut DuplexStream) -> Option<Frame> {
        tokio::time::timeout(Duration::from_secs(600), read_frame_now(io))
            .await
            .ok()
            .flatten()
    }

    async fn read_frame_now(io: &mut DuplexStream) -> Option<Frame> {
        let mut head = [0u8; 9];
        io.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        io.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: head[3],
            flags: head[4],
            payload,
        })
    }

    /// A connection served on an in-memory pipe, pinging after `INTERVAL` of quiet and
    /// waiting `TIMEOUT` for the pong; the client's end, the connection's state, the task.
    async fn connection() -> (DuplexStream, Arc<ConnState>, tokio::task::JoinHandle<()>) {
        let gateway = Gateway::from_yaml(
            "listeners:\n  - { name: public, address: \"127.0.0.1:0\" }\n\
             admin: { enabled: false }\n\
             routes:\n  - { name: all, match: { path: \"/{*rest}\" }, respond: { status: 200 } }\n",
        )
        .expect("config");
        let conn = Arc::new(ConnState {
            gateway,
            info: ConnInfo::new(SocketAddr::from(([127, 0, 0, 1], 1)), 0),
            watch: ConnWatch::new(),
            draining: Arc::new(AtomicBool::new(false)),
        });
        let config = Config::new(&ConnSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        })
        .with_keep_alive(INTERVAL, TIMEOUT);
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        // As reading the preface does: traffic before the keep-alive starts looking.
        conn.watch.touch();
        let state = conn.clone();
        let task = tokio::spawn(async move {
            let (_stop, stop) = watch::channel(false);
            serve(server, state, &config, stop).await;
        });
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        client
            .write_all(&frame(SETTINGS, 0, &[]))
            .await
            .expect("settings");
        (client, conn, task)
    }

    /// Reads up to the next PING, acking the server's SETTINGS on the way.
    async fn next_ping(client: &mut DuplexStream) -> Option<Frame> {
        loop {
            let f = read_frame(client).await?;
            match (f.kind, f.flags) {
                (SETTINGS, 0) => client
                    .write_all(&frame(SETTINGS, ACK, &[]))
                    .await
                    .expect("settings ack"),
                (PING, 0) => return Some(f),
                (GOAWAY, _) => return None,
                _ => {}
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_peer_is_pinged_and_closed_when_no_pong_comes() {
        let (mut client, _, task) = connection().await;
        let start = Instant::now();
        next_ping(&mut client).await.expect("a ping");
        assert!(
            start.elapsed() >= INTERVAL,
            "pinged after {:?}",
            start.elapsed()
        );
        let mut goaway = false;
        while let Some(f) = read_frame(&mut client).await {
            goaway |= f.kind == GOAWAY;
        }
        assert!(goaway, "the connection ends with GOAWAY");
        assert!(
            start.elapsed() >= INTERVAL + TIMEOUT,
            "closed after {:?}",
            start.elapsed()
        );
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the connection's task ended")
            .expect("no panic");
    }

    #[tokio::test]
    async fn a_panic_in_a_stream_ends_that_stream_alone() {
        let panicked = Isolated(Box::pin(async { panic!("a bug in one stream") })).await;
        assert!(panicked.is_none());
        let timer = Box::pin(tokio::time::sleep(Duration::ZERO));
        let ended = Isolated(Box::pin(async move {
            Ended {
                timer,
                reset_early: true,
            }
        }))
        .await;
        assert!(ended.is_some_and(|e| e.reset_early));
    }

    #[test]
    fn a_hundred_early_resets_that_are_half_the_streams_close_the_connection() {
        let mut r = ResetCount::default();
        for _ in 0..99 {
            assert!(!r.ended(true));
        }
        assert!(r.ended(true), "the hundredth early reset");
        let mut r = ResetCount::default();
        for i in 0..1000 {
            assert!(!r.ended(i % 3 == 0), "a third of the streams reset early");
        }
        // 334 of 1000 so far: 331 more early resets stay under half, the 332nd does not.
        for _ in 0..331 {
            assert!(!r.ended(true));
        }
        assert!(r.ended(true), "half of the streams reset early");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_answers_keeps_its_connection_and_traffic_puts_pings_off() {
        let (mut client, conn, task) = connection().await;
        let start = Instant::now();
        for round in 1..=3u32 {
            let ping = next_ping(&mut client).await.expect("a ping, not the end");
            assert!(
                (INTERVAL * round..INTERVAL * round + Duration::from_secs(1))
                    .contains(&start.elapsed()),
                "ping {round} after {:?}",
                start.elapsed()
            );
            client
                .write_all(&frame(PING, ACK, &ping.payload))
                .await
                .expect("pong");
        }
        assert!(!task.is_finished());
        // Traffic halfway through a quiet period: the ping waits for a whole quiet one.
        let last = Instant::now();
        tokio::time::sleep(INTERVAL / 2).await;
        conn.watch.touch();
        next_ping(&mut client).await.expect("a ping");
        // The check half a period later sees the traffic; the one after, a quiet period.
        assert!(
            (INTERVAL * 2..INTERVAL * 2 + Duration::from_secs(1)).contains(&last.elapsed()),
            "pinged {:?} after traffic",
            last.elapsed() - INTERVAL / 2
        );
    }
}
