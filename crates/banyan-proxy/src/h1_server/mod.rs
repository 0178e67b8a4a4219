//! HTTP/1.1 to clients, spoken by the connection's own task.
//!
//! hyper's server dispatches each request through its own state machine, header timer and
//! body channel; here the connection's task reads the head, calls the gateway and writes the
//! response, and a request body is read straight from the socket by whoever polls it. Heads
//! are read strictly (see [`head`]); a malformed one is answered with a problem document, as
//! every other refusal is.
//!
//! Timeouts are kept by the connection's watchdog (`server`), which reads the clocks this loop
//! sets: the time since it began waiting for a head, and the time since anything moved.

mod body;
mod head;
mod write;

use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf, BytesMut};
use http::{Method, Version};
use tokio::net::TcpStream;
use tokio::sync::Notify;

pub(crate) use body::Reader;
pub use body::{BodyError, RequestBody};
pub(crate) use head::Limits;

use crate::body::ClientBody;
use crate::error::GatewayError;
use crate::proxy::Answer;
use crate::server::ConnState;
use body::{Rest, Slot};
use head::Framing;
use write::{Asked, Writer};

/// Serves HTTP/1.1 requests on `stream` until the client or the gateway ends the connection.
/// `buf` holds what was read already.
pub(crate) async fn serve(stream: TcpStream, buf: BytesMut, conn: Arc<ConnState>, limits: Limits) {
    let (rd, wr) = stream.into_split();
    let mut reader = Box::new(Reader {
        io: rd,
        buf,
        conn: conn.clone(),
    });
    let mut writer = Writer::new(wr, conn.clone());
    let slot: Arc<Slot> = Arc::default();
    let mut fields = Vec::new();
    let mut names = crate::h1::Names::default();
    // The route timer, reset for each request. Registered on the first; a later deadline only
    // moves it, an earlier one or one after it fired registers it again.
    let mut timer = pin!(tokio::time::sleep(std::time::Duration::ZERO));
    // Bytes of the last request's body that nobody read, to drop before the next head.
    let mut skip = 0u64;
    loop {
        while skip > 0 {
            if reader.buf.is_empty()
                && !matches!(poll_fn(|cx| reader.poll_fill(cx)).await, Ok(n) if n > 0)
            {
                return;
            }
            let n = skip.min(reader.buf.len() as u64);
            reader.buf.advance(n as usize);
            skip -= n;
        }
        // Parsed again only when a line may have ended: a head trickled a byte at a time is
        // not scanned whole for every byte.
        let mut parsed_to = 0;
        let head = loop {
            if reader.buf[parsed_to..].contains(&b'\n') {
                match head::parse(&mut reader.buf, limits, &mut fields, &mut names) {
                    Ok(Some(head)) => break head,
                    Ok(None) => parsed_to = reader.buf.len(),
                    Err(e) => {
                        conn.watch.head_done();
                        return refuse(e, reader, writer).await;
                    }
                }
            } else if reader.buf.len() > limits.wire() {
                conn.watch.head_done();
                return refuse(head::too_large(limits), reader, writer).await;
            }
            match poll_fn(|cx| reader.poll_fill(cx)).await {
                Ok(n) if n > 0 => {}
                // The client closed, between requests or inside a head: nothing to answer.
                _ => return,
            }
        };
        conn.watch.head_done();
        let asked = Asked {
            head: head.request.method() == Method::HEAD,
            version: head.request.version(),
            trailers: head.trailers,
        };
        let mut expect = None;
        let (body, kept) = match head.framing {
            Framing::Empty => (RequestBody::empty(), Some(reader)),
            Framing::Length(n) if reader.buf.len() as u64 >= n => {
                let b = reader.buf.split_to(n as usize).freeze();
                (RequestBody::full(b), Some(reader))
            }
            f => {
                let length = match f {
                    Framing::Length(n) => Some(n),
                    _ => None,
                };
                if head.expect_continue && reader.buf.is_empty() {
                    expect = Some(Arc::new(Notify::new()));
                }
                let b = RequestBody::stream(length, reader, slot.clone(), expect.clone());
                (b, None)
            }
        };
        let req = head.request.map(|()| ClientBody::H1(body));

        conn.watch.in_flight.fetch_add(1, Ordering::Relaxed);
        let resp = {
            let handled =
                pin!(
                    conn.gateway
                        .handle(&conn.info, req, Some(head.known), timer.as_mut())
                );
            match expect {
                None => handled.await,
                Some(wanted) => match with_continue(handled, &wanted, &mut writer).await {
                    Ok(resp) => resp,
                    Err(_) => {
                        slot.abandon();
                        return;
                    }
                },
            }
        };
        conn.watch.in_flight.fetch_sub(1, Ordering::Relaxed);

        let mut back = kept.map(|r| (r, Rest::Nothing)).or_else(|| slot.take());
        // A response that says `Connection: close` (the gateway's, after a malformed body)
        // ends the connection too: the writer sees to that. So does a body another task still
        // holds (an HTTP/2 upstream's, answered before it read the whole body): it may not
        // come back before the client's next request, so the response says `Connection: close`
        // rather than promise a keep-alive and close under that request.
        let keep_alive = head.keep_alive
            && !conn.draining.load(Ordering::Relaxed)
            && back
                .as_ref()
                .is_some_and(|(_, rest)| *rest != Rest::Unknown);
        let written = writer.response(resp, asked, keep_alive).await;
        if back.is_none() {
            // The body was still out (streaming beside the response); it is over now, or the
            // connection cannot go on.
            back = slot.take();
        }
        if writer.reset {
            // The reader goes with it, if it is here: the socket closes with a reset.
            writer.abort();
            return;
        }
        match (written, back) {
            // A drain that began while the response was written ends the connection here.
            (Ok(true), Some((r, rest @ (Rest::Nothing | Rest::Skip(_)))))
                if keep_alive && !conn.draining.load(Ordering::Relaxed) =>
            {
                reader = r;
                skip = match rest {
                    Rest::Skip(n) => n,
                    _ => 0,
                };
            }
            (Ok(_), Some((r, _))) => return close(r, writer).await,
            _ => {
                // The body is held elsewhere (an HTTP/2 upstream's task): it lets go of the
                // socket on its next poll.
                slot.abandon();
                return;
            }
        }
        conn.watch.head_started();
        // Read after the wait is marked, as the drain marks the server draining before it looks
        // for waiting connections: one of the two always sees the other.
        if conn.draining.load(Ordering::SeqCst) {
            return close(reader, writer).await;
        }
    }
}

/// Waits for the gateway's response while sending `100 Continue` once the request body is
/// first read (never for a request answered without it). The interim response is written
/// beside the request, never instead of it: a client that does not read cannot stall the
/// route's deadline.
async fn with_continue(
    mut handled: std::pin::Pin<&mut impl std::future::Future<Output = Answer>>,
    wanted: &Notify,
    writer: &mut Writer,
) -> std::io::Result<Answer> {
    use std::future::Future;
    use std::task::Poll;
    let mut told = pin!(wanted.notified());
    let mut sending = false;
    let resp = poll_fn(|cx| {
        if let Poll::Ready(r) = handled.as_mut().poll(cx) {
            // A body read by another task (an HTTP/2 upstream's) may have been wanted just
            // before the answer came: the client then gets its 100 first, and may send the
            // body, which the connection then skips.
            if !sending && told.as_mut().poll(cx).is_ready() {
                writer.queue_raw(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            return Poll::Ready(Ok(r));
        }
        if !sending && told.as_mut().poll(cx).is_ready() {
            sending = true;
            writer.queue_raw(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        if sending && let Poll::Ready(Err(e)) = writer.poll_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Pending
    })
    .await?;
    // What is left of the interim response goes out ahead of the final one.
    Ok(resp)
}

/// Answers a head that cannot be served, and closes.
async fn refuse(e: GatewayError, reader: Box<Reader>, mut writer: Writer) {
    tracing::debug!(error = %e, "request head refused");
    let resp = crate::proxy::refusal(e);
    let asked = Asked {
        head: false,
        version: Version::HTTP_11,
        trailers: false,
    };
    if writer.response(resp, asked, false).await.is_ok() {
        close(reader, writer).await;
    }
}

/// Closes after the last response: the sending side first, then whatever the client still
/// sends is read and dropped for a moment, so that the response is not lost to a reset.
async fn close(reader: Box<Reader>, mut writer: Writer) {
    writer.shutdown().await;
    body::discard(reader).await;
}

/// What [`read_request`] read.
#[cfg(feature = "fuzzing")]
#[derive(Debug)]
pub struct ReadRequest {
    pub request: http::Request<()>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
    /// The bytes after the request's end.
    pub rest: usize,
    /// What the parser noted of the fields the gateway reads itself.
    pub known: crate::proxy::Known,
}

/// Reads `wire` as a connection reads a request: the head, then the body by its framing;
/// `Ok(None)` while it is incomplete. For the fuzz target only: built with the `fuzzing`
/// feature, never into the gateway.
#[cfg(feature = "fuzzing")]
pub fn read_request(wire: &[u8]) -> Result<Option<ReadRequest>, GatewayError> {
    use crate::h1::{Chunk, Step, decode_chunk_strict};
    let limits = Limits {
        max_header_bytes: 32 * 1024,
        max_headers: 100,
        max_uri: 65_534,
    };
    let mut buf = BytesMut::from(wire);
    let Some(head) = head::parse(&mut buf, limits, &mut Vec::new(), &mut Default::default())?
    else {
        return Ok(None);
    };
    let mut body = Vec::new();
    match head.framing {
        Framing::Empty => {}
        Framing::Length(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if buf.len() < n {
                return Ok(None);
            }
            body.extend_from_slice(&buf.split_to(n));
        }
        Framing::Chunked => {
            let mut state = Chunk::Size;
            loop {
                match decode_chunk_strict(state, &mut buf) {
                    Ok(Step::Next(next, frame)) => {
                        state = next;
                        if let Some(d) = frame.and_then(|f| f.into_data().ok()) {
                            body.extend_from_slice(&d);
                        }
                    }
                    Ok(Step::End(_)) => break,
                    Ok(Step::More) => return Ok(None),
                    Err(e) => return Err(GatewayError::BadRequest(e.to_string())),
                }
            }
        }
    }
    Ok(Some(ReadRequest {
        known: head.known,
        request: head.request,
        body,
        keep_alive: head.keep_alive,
        rest: buf.len(),
    }))
}
