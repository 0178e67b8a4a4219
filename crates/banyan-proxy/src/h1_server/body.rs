//! The client's request body, read straight from its socket by whichever task polls it (the
//! request's own, or an HTTP/2 upstream's). The read half of the connection travels inside
//! the body and comes back to the connection when the body ends or is dropped.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::Notify;

use crate::h1::{Chunk, Step, decode_chunk_strict};
use crate::server::ConnState;

/// The read half of a client connection and what was read from it and not yet used.
#[derive(Debug)]
pub(crate) struct Reader {
    pub io: OwnedReadHalf,
    pub buf: BytesMut,
    pub conn: Arc<ConnState>,
}

impl Reader {
    /// Reads what the socket has into the buffer; `Ok(0)` is the end of the stream.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let r = crate::h1::poll_fill(&mut self.io, &mut self.buf, cx);
        if matches!(r, Poll::Ready(Ok(_))) {
            self.conn.watch.touch();
        }
        r
    }
}

/// Chunk extensions a request body may carry, beyond a share of its data: they are not body
/// bytes, so `max_body_bytes` does not count them. hyper allows 16 KiB in all; the share lets
/// a long upload sign each of its chunks (S3's `chunk-signature`, about 80 bytes a chunk),
/// while chunks of one byte with kilobytes of extensions are refused within a few chunks.
const MAX_EXTENSIONS: u64 = 16 * 1024;
const EXTENSION_SHARE: u64 = 64;

/// The most of an unread body the connection reads and drops to serve the next request on it;
/// past this it closes instead.
const MAX_SKIP: u64 = 64 * 1024;

/// What is left on the wire of a request body when its reader comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rest {
    /// Nothing: what follows in the buffer is the next request.
    Nothing,
    /// This many bytes of body, to be read and dropped before the next request.
    Skip(u64),
    /// The connection cannot tell where the next request begins.
    Unknown,
}

/// Where a streamed body hands the reader back to its connection, and how the connection gives
/// up on a body that another task still holds.
#[derive(Debug, Default)]
pub(super) struct Slot {
    state: Mutex<SlotState>,
    /// The connection is closing: the body fails on its next poll and lets the socket go.
    /// Read on every poll of a streamed body, so it is kept outside the lock.
    abandoned: AtomicBool,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The reader, and what is left of the body.
    back: Option<(Box<Reader>, Rest)>,
    /// The task waiting on the body's next read, woken when the body is abandoned.
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // A panic while holding this lock cannot leave the state half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn give_back(&self, reader: Box<Reader>, rest: Rest) {
        self.lock().back = Some((reader, rest));
    }

    /// The reader, once its body has given it back.
    pub(super) fn take(&self) -> Option<(Box<Reader>, Rest)> {
        self.lock().back.take()
    }

    /// Makes the body still out fail at once, wherever it is polled, so that it drops the
    /// client's socket instead of holding it for as long as the client trickles bytes.
    pub(super) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        // Taken under the lock that `park` stores under: a waker stored before this is woken
        // here, and one stored after it sees the flag.
        let waker = self.lock().waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Notes who waits for the body's next bytes.
    fn park(&self, waker: &Waker) {
        let mut s = self.lock();
        if self.abandoned() {
            waker.wake_by_ref();
        } else if !s.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            s.waker = Some(waker.clone());
        }
    }
}

/// A request body from an HTTP/1.1 client.
#[derive(Debug)]
pub struct RequestBody(Kind);

#[derive(Debug)]
enum Kind {
    Empty,
    /// A body that had arrived whole with its head.
    Full(Option<Bytes>),
    Stream(Box<Stream>),
}

#[derive(Debug)]
struct Stream {
    decode: Decode,
    /// `None` once the body is over, or failed.
    reader: Option<Box<Reader>>,
    slot: Arc<Slot>,
    /// Set for `Expect: 100-continue`: told on the first read, so that the connection sends
    /// `100 Continue` only once the body is wanted.
    expect: Option<Arc<Notify>>,
    /// Chunk extension bytes (everything on a size line after its digits), summed.
    extensions: u64,
    /// Data bytes so far.
    data: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Length(u64),
    Chunked(Chunk),
    Done,
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is malformed: {0}")]
    Malformed(&'static str),
    #[error("the client closed the connection before the end of the request body")]
    Closed,
    #[error("reading the request body failed: {0}")]
    Io(#[from] io::Error),
}

impl RequestBody {
    pub(super) fn empty() -> Self {
        Self(Kind::Empty)
    }

    pub(super) fn full(b: Bytes) -> Self {
        Self(Kind::Full(Some(b)))
    }

    /// A body read from `reader` as it comes: `length` bytes, or chunked when `None`.
    pub(super) fn stream(
        length: Option<u64>,
        reader: Box<Reader>,
        slot: Arc<Slot>,
        expect: Option<Arc<Notify>>,
    ) -> Self {
        Self(Kind::Stream(Box::new(Stream {
            decode: match length {
                Some(n) => Decode::Length(n),
                None => Decode::Chunked(Chunk::Size),
            },
            reader: Some(reader),
            slot,
            expect,
            extensions: 0,
            data: 0,
        })))
    }
}

impl Stream {
    /// Hands the reader back to the connection.
    fn give_back(&mut self, rest: Rest) {
        if let Some(r) = self.reader.take() {
            self.slot.give_back(r, rest);
        }
    }

    fn finish(&mut self) {
        self.decode = Decode::Done;
        self.give_back(Rest::Nothing);
    }

    fn poll_decode(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return Poll::Ready(match self.decode {
                    Decode::Done => None,
                    _ => Some(Err(BodyError::Closed)),
                });
            };
            if let Some(expect) = self.expect.take()
                && reader.buf.is_empty()
            {
                expect.notify_one();
            }
            let (before, digits) = match self.decode {
                Decode::Chunked(Chunk::Size) => (
                    reader.buf.len(),
                    reader
                        .buf
                        .iter()
                        .take_while(|b| b.is_ascii_hexdigit())
                        .count(),
                ),
                _ => (reader.buf.len(), 0),
            };
            match self.decode {
                Decode::Done => return Poll::Ready(None),
                Decode::Length(0) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Decode::Length(left) => {
                    if reader.buf.is_empty() && ready!(reader.poll_fill(cx))? == 0 {
                        return Poll::Ready(Some(Err(BodyError::Closed)));
                    }
                    let n = left.min(reader.buf.len() as u64);
                    let data = reader.buf.split_to(n as usize).freeze();
                    self.decode = Decode::Length(left - n);
                    if left == n {
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Decode::Chunked(state) => match decode_chunk_strict(state, &mut reader.buf) {
                    Ok(Step::Next(next, frame)) => {
                        if state == Chunk::Size {
                            // What the size line took after its digits and before its CRLF.
                            let line = before - reader.buf.len();
                            self.extensions += line.saturating_sub(digits + 2) as u64;
                            if self.extensions > MAX_EXTENSIONS + self.data / EXTENSION_SHARE {
                                return Poll::Ready(Some(Err(BodyError::Malformed(
                                    "the chunk extensions are too large for the data",
                                ))));
                            }
                        }
                        self.decode = Decode::Chunked(next);
                        if let Some(frame) = frame {
                            if let Some(d) = frame.data_ref() {
                                self.data += d.len() as u64;
                            }
                            return Poll::Ready(Some(Ok(frame)));
                        }
                    }
                    Ok(Step::End(trailers)) => {
                        self.finish();
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Ok(Step::More) => {
                        if ready!(reader.poll_fill(cx))? == 0 {
                            return Poll::Ready(Some(Err(BodyError::Closed)));
                        }
                    }
                    Err(crate::h1::Error::Malformed(m)) => {
                        return Poll::Ready(Some(Err(BodyError::Malformed(m))));
                    }
                    Err(_) => return Poll::Ready(Some(Err(BodyError::Malformed("bad chunk")))),
                },
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Left before its end (an early answer): what is still on the wire is not a request.
        // A short rest of known length is skipped, as nginx does, so that the connection
        // serves on; a client still waiting for `100 Continue` may never send it.
        let rest = match self.decode {
            Decode::Done => Rest::Nothing,
            Decode::Length(n) if n <= MAX_SKIP && self.expect.is_none() => Rest::Skip(n),
            _ => Rest::Unknown,
        };
        self.give_back(rest);
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().0 {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(s) if s.reader.is_some() && s.slot.abandoned() => {
                s.decode = Decode::Done;
                s.reader = None;
                Poll::Ready(Some(Err(BodyError::Closed)))
            }
            Kind::Stream(s) => match s.poll_decode(cx) {
                Poll::Pending => {
                    s.slot.park(cx.waker());
                    Poll::Pending
                }
                Poll::Ready(Some(Err(e))) => {
                    // The framing is lost: the connection cannot carry another request.
                    s.decode = Decode::Done;
                    s.give_back(Rest::Unknown);
                    Poll::Ready(Some(Err(e)))
                }
                polled => polled,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Empty => true,
            Kind::Full(b) => b.is_none(),
            Kind::Stream(s) => s.decode == Decode::Done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(s) => match s.decode {
                Decode::Length(n) => SizeHint::with_exact(n),
                Decode::Done => SizeHint::with_exact(0),
                Decode::Chunked(_) => SizeHint::default(),
            },
        }
    }
}

/// Reads and drops what the client still sends, for a while, after the last response of a
/// connection that is being closed: closing a socket with unread bytes resets it, and a reset
/// can destroy the response before the client has read it.
pub(super) async fn discard(mut reader: Box<Reader>) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
    const MOST: usize = 1 << 20;
    let mut read = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while read < MOST {
            reader.buf.clear();
            match std::future::poll_fn(|cx| reader.poll_fill(cx)).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}
