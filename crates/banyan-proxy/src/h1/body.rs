//! The response body, read from the upstream's socket by the client's task.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame, SizeHint};

use super::upload::Upload;
use super::{Conn, Error, MAX_CHUNK_LINE, MAX_HEAD, MAX_HEADERS, READ_BLOCK};
use crate::pool::EndpointPool;

/// Where a response body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decode {
    Length(u64),
    Chunked(Chunk),
    Close,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer fields, then an empty line.
    Trailers,
}

/// A response body read from an HTTP/1.1 upstream. The connection goes back to its pool as
/// soon as the body's last byte is read, when the framing allows reuse; a body dropped before
/// its end closes the connection, unless the rest of it has already arrived.
#[derive(Debug)]
pub struct H1Body {
    pub(super) decode: Decode,
    pub(super) keep_alive: bool,
    /// `None` once the body is over.
    pub(super) conn: Option<Box<Conn>>,
    /// The request body, when the upstream answered before it was all sent (rare: boxed).
    pub(super) upload: Option<Box<Upload>>,
    pub(super) home: Option<Arc<EndpointPool>>,
    /// The error the body ended with, reported on the poll after it was found.
    pub(super) failed: Option<Error>,
}

impl H1Body {
    pub(super) fn finish_if_empty(&mut self) {
        if self.decode == Decode::Length(0) {
            self.finish();
        }
    }

    /// The body is over: its connection goes back to the pool if nothing is left unsaid on it.
    fn finish(&mut self) {
        self.decode = Decode::Done;
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let clean = self.keep_alive && self.upload.is_none() && conn.buf.is_empty();
        if let (true, Some(home)) = (clean, self.home.take()) {
            conn.reused = true;
            if conn.buf.capacity() > 2 * READ_BLOCK {
                // A large head grew it; an idle connection keeps no more than a read's worth.
                conn.buf = BytesMut::new();
            }
            home.checkin_h1(conn);
        }
    }

    /// Gives up the connection: it is closed, never reused.
    fn abandon(&mut self) {
        self.decode = Decode::Done;
        self.conn = None;
        self.upload = None;
    }

    fn poll_decode(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                // Only a failed body has no connection before it is done.
                return Poll::Ready(match self.decode {
                    Decode::Done => None,
                    _ => Some(Err(Error::Closed)),
                });
            };
            if let Some(up) = self.upload.as_mut() {
                match up.poll(cx, &mut conn.io) {
                    Poll::Ready(Ok(())) => self.upload = None,
                    Poll::Ready(Err(e @ (Error::RequestBody(_) | Error::BodyLength))) => {
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(Err(_)) => {
                        // The upstream stopped reading the request; its response may go on.
                        self.upload = None;
                        self.keep_alive = false;
                    }
                    Poll::Pending => {}
                }
            }
            match self.decode {
                Decode::Done => return Poll::Ready(None),
                Decode::Length(0) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Decode::Length(left) => {
                    if conn.buf.is_empty() && ready!(conn.poll_fill(cx))? == 0 {
                        return Poll::Ready(Some(Err(Error::Closed)));
                    }
                    let buf = &mut conn.buf;
                    let n = left.min(buf.len() as u64);
                    let data = buf.split_to(n as usize).freeze();
                    self.decode = Decode::Length(left - n);
                    if left == n {
                        self.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Decode::Close => {
                    if conn.buf.is_empty() && ready!(conn.poll_fill(cx))? == 0 {
                        self.abandon();
                        return Poll::Ready(None);
                    }
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Decode::Chunked(state) => match decode_chunk(state, &mut conn.buf)? {
                    Step::Next(next, frame) => {
                        self.decode = Decode::Chunked(next);
                        if let Some(frame) = frame {
                            return Poll::Ready(Some(Ok(frame)));
                        }
                    }
                    Step::End(trailers) => {
                        self.finish();
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Step::More => {
                        if ready!(conn.poll_fill(cx))? == 0 {
                            return Poll::Ready(Some(Err(Error::Closed)));
                        }
                    }
                },
            }
        }
    }
}

/// What the chunked decoder made of the buffer.
#[derive(Debug)]
pub(crate) enum Step {
    /// A new state, and a frame to hand on, if the step made one.
    Next(Chunk, Option<Frame<Bytes>>),
    /// The body is over, with its trailer fields if it had any.
    End(Option<HeaderMap>),
    /// The buffer holds too little to go on.
    More,
}

/// One step of the chunked decoder (RFC 9112 7.1) over the buffered bytes.
pub(crate) fn decode_chunk(state: Chunk, buf: &mut BytesMut) -> Result<Step, Error> {
    decode_chunk_with(state, buf, false)
}

/// [`decode_chunk`] that also refuses a trailer section with a bare LF for a line end, for
/// bodies from clients: a proxy in front that reads it otherwise would see other fields.
pub(crate) fn decode_chunk_strict(state: Chunk, buf: &mut BytesMut) -> Result<Step, Error> {
    decode_chunk_with(state, buf, true)
}

/// Whether `b` has a LF that does not end a CRLF. Every head is scanned, so it looks at eight
/// bytes at a time: a word's LFs and CRs are found exactly, and each LF must have a CR one byte
/// before it, in this word or at the end of the last.
pub(crate) fn has_bare_lf(b: &[u8]) -> bool {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    // The high bit of every byte of `w` equal to `byte`, and no other bit (no false positives,
    // unlike the shorter `(x - 0x01..) & !x & 0x80..` test).
    let find = |w: u64, byte: u8| {
        let x = w ^ u64::from_le_bytes([byte; 8]);
        !(((x & LOW7) + LOW7) | x | LOW7)
    };
    // The high bit of the byte before this word, when that byte was a CR.
    let mut carry = 0u64;
    let mut words = b.chunks_exact(8);
    for w in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let w = u64::from_le_bytes(word);
        let (lf, cr) = (find(w, b'\n'), find(w, b'\r'));
        if lf & !((cr << 8) | carry) != 0 {
            return true;
        }
        carry = cr >> 56;
    }
    let rest = words.remainder();
    let start = b.len() - rest.len();
    (start..b.len()).any(|i| b[i] == b'\n' && (i == 0 || b[i - 1] != b'\r'))
}

fn decode_chunk_with(state: Chunk, buf: &mut BytesMut, strict: bool) -> Result<Step, Error> {
    let bad = |m| Err(Error::Malformed(m));
    match state {
        Chunk::Size => {
            let Some(eol) = buf.iter().position(|b| *b == b'\n') else {
                return if buf.len() > MAX_CHUNK_LINE {
                    bad("a chunk-size line is too long")
                } else {
                    Ok(Step::More)
                };
            };
            if eol > MAX_CHUNK_LINE {
                return bad("a chunk-size line is too long");
            }
            let Some(line) = buf[..eol].strip_suffix(b"\r") else {
                return bad("a chunk-size line does not end with CRLF");
            };
            let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            if digits == 0 || digits > 15 {
                return bad("a chunk size is not a hex number");
            }
            let rest = line[digits..].trim_ascii_start();
            // Extensions are ignored, but they must be extensions: no control characters.
            if !rest.is_empty()
                && (rest[0] != b';' || rest.iter().any(|b| b.is_ascii_control() && *b != b'\t'))
            {
                return bad("a chunk-size line is malformed");
            }
            let size = line[..digits].iter().fold(0u64, |n, b| {
                n * 16 + u64::from((*b as char).to_digit(16).unwrap_or(0))
            });
            buf.advance(eol + 1);
            Ok(Step::Next(
                if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                },
                None,
            ))
        }
        Chunk::Data(left) => {
            if buf.is_empty() {
                return Ok(Step::More);
            }
            let n = left.min(buf.len() as u64);
            let data = buf.split_to(n as usize).freeze();
            let next = if left == n {
                Chunk::DataEnd
            } else {
                Chunk::Data(left - n)
            };
            Ok(Step::Next(next, Some(Frame::data(data))))
        }
        Chunk::DataEnd => match buf.get(..2) {
            None if buf.first().is_none_or(|b| *b == b'\r') => Ok(Step::More),
            Some(b"\r\n") => {
                buf.advance(2);
                Ok(Step::Next(Chunk::Size, None))
            }
            _ => bad("a chunk's data is not followed by CRLF"),
        },
        Chunk::Trailers => {
            // httparse says where the section ends (it takes a bare LF as a line end too); the
            // buffer is advanced by exactly that, so what follows is never skipped or mistaken.
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let (used, trailers) = match httparse::parse_headers(buf, &mut fields) {
                Ok(httparse::Status::Complete((used, fields))) => {
                    let mut map = HeaderMap::with_capacity(fields.len());
                    for f in fields {
                        let (Ok(name), Ok(value)) = (
                            HeaderName::from_bytes(f.name.as_bytes()),
                            HeaderValue::from_bytes(f.value),
                        ) else {
                            return bad("a trailer field is not valid");
                        };
                        map.append(name, value);
                    }
                    (used, map)
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                    return bad("the trailer section is too large");
                }
                Ok(httparse::Status::Partial) => return Ok(Step::More),
                Err(_) => return bad("the trailer section cannot be parsed"),
            };
            if used > MAX_HEAD {
                return bad("the trailer section is too large");
            }
            if strict && has_bare_lf(&buf[..used]) {
                return bad("a trailer line does not end with CRLF");
            }
            buf.advance(used);
            Ok(Step::End((!trailers.is_empty()).then_some(trailers)))
        }
    }
}

impl Drop for H1Body {
    fn drop(&mut self) {
        // A client that left before the end: if the rest of a sized body has already arrived,
        // the connection is still clean and can serve the next request.
        if let (Decode::Length(left), Some(conn)) = (self.decode, self.conn.as_mut())
            && conn.buf.len() as u64 == left
        {
            conn.buf.clear();
            self.finish();
        }
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if let Some(e) = this.failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match this.poll_decode(cx) {
            Poll::Ready(Some(Err(e))) => {
                // Reported on the next poll, so that what came before it (the head, the data
                // that did arrive) is written to the client first: hyper drops its write
                // buffer with the connection when a body fails.
                this.conn = None;
                this.upload = None;
                this.failed = Some(e);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decode == Decode::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.decode {
            Decode::Length(n) => SizeHint::with_exact(n),
            Decode::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}
