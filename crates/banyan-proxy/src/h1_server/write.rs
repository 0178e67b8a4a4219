//! Responses to HTTP/1.1 clients: the head encoded into one buffer, small body frames copied
//! after it and large ones written from where they are, all in as few `writev`s as the body's
//! pace allows.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE};
use http::{HeaderMap, HeaderValue, StatusCode, Version};
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;

use crate::body::ProxyBody;
use crate::h1::parse_length;
use crate::proxy::Answer;
use crate::sanitize::X_REQUEST_ID;
use crate::server::ConnState;

/// Frames up to this size are copied into the write buffer; larger ones are written in place.
const COPY_MAX: usize = 4096;
/// Queued bytes past this are written before the next frame is taken.
const FLUSH_AT: usize = 64 * 1024;

/// What the response's encoding depends on in its request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked {
    pub head: bool,
    pub version: Version,
    /// The client accepts trailer fields.
    pub trailers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// The write half of a client connection.
#[derive(Debug)]
pub(super) struct Writer {
    io: OwnedWriteHalf,
    /// Encoded and not yet written; `queue` comes first when it is not empty.
    buf: BytesMut,
    queue: Vec<Bytes>,
    conn: Arc<ConnState>,
    /// The last response was cut short where its end could not show it: the connection must
    /// end with a reset, not a close that would make it look whole.
    pub reset: bool,
}

impl Writer {
    pub(super) fn new(io: OwnedWriteHalf, conn: Arc<ConnState>) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(4096),
            queue: Vec::new(),
            conn,
            reset: false,
        }
    }

    /// Queues bytes as they are (an interim `100 Continue`), ahead of what comes next.
    pub(super) fn queue_raw(&mut self, bytes: &'static [u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes the answer whole, its request id among the fields. `Ok(true)`: the response
    /// ended where its framing says, and the connection can carry another if `keep_alive`;
    /// `Ok(false)`: it must be closed (the body failed, ends with the connection, or the
    /// response says `Connection: close`).
    pub(super) async fn response(
        &mut self,
        answer: Answer,
        asked: Asked,
        mut keep_alive: bool,
    ) -> io::Result<bool> {
        let (parts, mut body) = answer.response.into_parts();
        let status = parts.status;
        let no_body = asked.head
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        // The length is written below, once, as the gateway frames the body: a list or repeated
        // lines from the upstream (`5, 5`) are never passed on to be read two ways.
        let reason = parts.extensions.get::<hyper::ext::ReasonPhrase>();
        let seen = encode_head(&mut self.buf, status, reason, &parts.headers);
        self.buf.put_slice(b"x-request-id: ");
        self.buf.put_slice(answer.request_id.as_bytes());
        self.buf.put_slice(b"\r\n");
        keep_alive &= !seen.close;
        let declared = seen.length.and_then(|v| parse_length(v.as_bytes()));
        let (date_seen, connection_seen) = (seen.date, seen.connection);
        // Encoded: the map can take another head.
        crate::maps::give(parts.headers);
        let framing = if no_body {
            Framing::None
        } else if let Some(n) = declared.or_else(|| body.size_hint().exact()) {
            Framing::Length(n)
        } else if asked.version == Version::HTTP_11 {
            Framing::Chunked
        } else {
            keep_alive = false;
            Framing::Close
        };
        let length = match framing {
            Framing::Length(n) => Some(n),
            // RFC 9110 8.6: no Content-Length on a 1xx or 204, whatever the upstream sent; a
            // client that believed one would take the next response for this one's body.
            Framing::None if status.is_informational() || status == StatusCode::NO_CONTENT => None,
            // A HEAD or 304 says the length a GET would have had: the upstream's, or that of
            // a response the gateway made.
            Framing::None => declared.or_else(|| match &body {
                ProxyBody::Full(_) if asked.head && status != StatusCode::NOT_MODIFIED => {
                    body.size_hint().exact()
                }
                _ => None,
            }),
            _ => None,
        };
        if let Some(n) = length {
            self.buf.put_slice(b"content-length: ");
            self.buf.put_slice(itoa(n, &mut [0; 20]));
            self.buf.put_slice(b"\r\n");
        } else if framing == Framing::Chunked {
            self.buf.put_slice(b"transfer-encoding: chunked\r\n");
        }
        if !connection_seen {
            if !keep_alive && asked.version == Version::HTTP_11 {
                self.buf.put_slice(b"connection: close\r\n");
            } else if keep_alive && asked.version == Version::HTTP_10 {
                self.buf.put_slice(b"connection: keep-alive\r\n");
            }
        }
        if !date_seen {
            put_date(&mut self.buf);
        }
        self.buf.put_slice(b"\r\n");
        if framing == Framing::None {
            drop(body);
            self.flush().await?;
            return Ok(keep_alive);
        }

        let mut sent = 0u64;
        let mut trailers: Option<HeaderMap> = None;
        let mut failed = false;
        while !body.is_end_stream() {
            let mut body = Pin::new(&mut body);
            // Take what the body has now; write what is queued only when it has nothing more.
            let frame = match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
                Poll::Ready(f) => f,
                Poll::Pending => {
                    self.flush().await?;
                    poll_fn(|cx| body.as_mut().poll_frame(cx)).await
                }
            };
            let data = match frame {
                None => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "response body failed; closing the connection");
                    failed = true;
                    break;
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => {
                        trailers = frame.into_trailers().ok();
                        continue;
                    }
                },
            };
            if data.is_empty() {
                continue;
            }
            match framing {
                Framing::Length(n) => {
                    if sent + data.len() as u64 > n {
                        // More than it promised: what fits is sent, the rest never is.
                        let fits = (n - sent) as usize;
                        self.push(data.slice(..fits));
                        failed = true;
                        break;
                    }
                    sent += data.len() as u64;
                    self.push(data);
                }
                Framing::Chunked => {
                    let mut hex = [0u8; 16];
                    self.buf.put_slice(hex_len(data.len(), &mut hex));
                    self.buf.put_slice(b"\r\n");
                    self.push(data);
                    self.buf.put_slice(b"\r\n");
                }
                _ => self.push(data),
            }
            if self.queued() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        if failed {
            // What did arrive is written; the client sees the message cut short. A body that
            // ends with the connection could look whole after a plain close: it is reset.
            self.flush().await?;
            self.reset = framing == Framing::Close;
            return Ok(false);
        }
        match framing {
            Framing::Chunked => {
                self.buf.put_slice(b"0\r\n");
                if let (Some(t), true) = (trailers, asked.trailers) {
                    encode_fields(&mut self.buf, &t);
                }
                self.buf.put_slice(b"\r\n");
            }
            Framing::Length(n) if sent != n => {
                self.flush().await?;
                return Ok(false);
            }
            _ => {}
        }
        self.flush().await?;
        Ok(framing != Framing::Close && keep_alive)
    }

    /// Adds a body frame after what is encoded: copied when small, queued in place when not.
    fn push(&mut self, data: Bytes) {
        if data.len() <= COPY_MAX {
            self.buf.put_slice(&data);
        } else {
            if !self.buf.is_empty() {
                self.queue.push(self.buf.split().freeze());
            }
            self.queue.push(data);
        }
    }

    fn queued(&self) -> usize {
        self.buf.len() + self.queue.iter().map(Bytes::len).sum::<usize>()
    }

    /// Writes everything encoded and queued.
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.queue.is_empty() && !self.buf.is_empty() {
            self.queue.push(self.buf.split().freeze());
        }
        while !self.queue.is_empty() || !self.buf.is_empty() {
            let io = Pin::new(&mut self.io);
            let n = if self.queue.is_empty() {
                ready!(io.poll_write(cx, &self.buf))?
            } else {
                let mut slices = [IoSlice::new(&[]); 32];
                let k = self.queue.len().min(slices.len());
                for (s, b) in slices.iter_mut().zip(&self.queue) {
                    *s = IoSlice::new(b);
                }
                ready!(io.poll_write_vectored(cx, &slices[..k]))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.watch.touch();
            if self.queue.is_empty() {
                self.buf.advance(n);
                continue;
            }
            let mut n = n;
            let mut done = 0;
            for b in &mut self.queue {
                if n < b.len() {
                    b.advance(n);
                    break;
                }
                n -= b.len();
                done += 1;
            }
            self.queue.drain(..done);
        }
        if self.buf.capacity() > 4 * FLUSH_AT {
            self.buf = BytesMut::with_capacity(4096);
        }
        Poll::Ready(Ok(()))
    }

    /// Ends the connection with a reset: no FIN goes out, so the client cannot take what it got
    /// for a whole response.
    pub(super) fn abort(self) {
        let _ = socket2::SockRef::from(self.io.as_ref()).set_linger(Some(Duration::ZERO));
        // Dropped, the write half would shut the socket down (a FIN) first.
        self.io.forget();
    }

    /// Ends the sending side; what was written is delivered first.
    pub(super) async fn shutdown(&mut self) {
        let _ = poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await;
    }
}

/// What [`encode_head`] saw of the fields that the gateway writes itself when they are missing.
#[derive(Debug, Default)]
struct Seen<'a> {
    /// The first `Content-Length`; no `Content-Length` field is written.
    length: Option<&'a HeaderValue>,
    date: bool,
    connection: bool,
    /// A `Connection` field says `close`.
    close: bool,
}

/// Writes the status line and every field but `Content-Length` and `x-request-id` (the
/// writer's own), in one pass over the fields.
fn encode_head<'a>(
    buf: &mut BytesMut,
    status: StatusCode,
    reason: Option<&hyper::ext::ReasonPhrase>,
    headers: &'a HeaderMap,
) -> Seen<'a> {
    buf.reserve(64 + headers.len() * 48);
    buf.put_slice(b"HTTP/1.1 ");
    buf.put_slice(status.as_str().as_bytes());
    buf.put_u8(b' ');
    match reason {
        Some(r) => buf.put_slice(r.as_bytes()),
        None => buf.put_slice(status.canonical_reason().unwrap_or("").as_bytes()),
    }
    buf.put_slice(b"\r\n");
    let mut seen = Seen::default();
    for (name, value) in headers {
        if name == CONTENT_LENGTH {
            seen.length.get_or_insert(value);
            continue;
        }
        if name == X_REQUEST_ID {
            continue;
        }
        seen.date |= name == DATE;
        if name == CONNECTION {
            seen.connection = true;
            seen.close |= value
                .as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
        buf.put_slice(name.as_str().as_bytes());
        buf.put_slice(b": ");
        buf.put_slice(value.as_bytes());
        buf.put_slice(b"\r\n");
    }
    seen
}

fn encode_fields(buf: &mut BytesMut, headers: &HeaderMap) {
    for (name, value) in headers {
        buf.put_slice(name.as_str().as_bytes());
        buf.put_slice(b": ");
        buf.put_slice(value.as_bytes());
        buf.put_slice(b"\r\n");
    }
}

fn itoa(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &out[i..];
        }
    }
}

fn hex_len(mut n: usize, out: &mut [u8; 16]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            return &out[i..];
        }
    }
}

fn put_date(buf: &mut BytesMut) {
    crate::date::with_now(|date| {
        buf.put_slice(b"date: ");
        buf.put_slice(date.as_bytes());
        buf.put_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_their_bases() {
        assert_eq!(itoa(0, &mut [0; 20]), b"0");
        assert_eq!(
            itoa(u64::MAX, &mut [0; 20]),
            u64::MAX.to_string().as_bytes()
        );
        assert_eq!(hex_len(0, &mut [0; 16]), b"0");
        assert_eq!(hex_len(0x1f0a, &mut [0; 16]), b"1f0a");
    }

    #[test]
    fn the_head_is_encoded_with_its_reason() {
        let mut buf = BytesMut::new();
        let mut h = HeaderMap::new();
        h.insert("x-a", "1".parse().expect("value"));
        let seen = encode_head(&mut buf, StatusCode::NOT_FOUND, None, &h);
        assert_eq!(&buf[..], b"HTTP/1.1 404 Not Found\r\nx-a: 1\r\n");
        assert!(seen.length.is_none() && !seen.date && !seen.connection);
        buf.clear();
        encode_head(&mut buf, StatusCode::from_u16(599).expect("code"), None, &h);
        assert_eq!(&buf[..], b"HTTP/1.1 599 \r\nx-a: 1\r\n");
    }

    #[test]
    fn the_length_is_left_to_the_writer_and_date_and_connection_are_noted() {
        let mut buf = BytesMut::new();
        let mut h = HeaderMap::new();
        h.insert("x-a", "1".parse().expect("value"));
        h.append("content-length", "5".parse().expect("value"));
        h.append("content-length", "6".parse().expect("value"));
        h.insert("date", "today".parse().expect("value"));
        h.insert("connection", "x-a".parse().expect("value"));
        let seen = encode_head(&mut buf, StatusCode::OK, None, &h);
        assert_eq!(
            &buf[..],
            b"HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: today\r\nconnection: x-a\r\n"
        );
        assert_eq!(seen.length.map(|v| v.as_bytes()), Some(&b"5"[..]));
        assert!(seen.date && seen.connection);
    }
}
