//! HTTP/1.1 to upstreams, spoken by the request's own task.
//!
//! hyper's client runs each connection in a task of its own and passes the request, the
//! response and every body chunk across channels: three task switches per request, about a
//! sixth of a proxied request's instructions. Here the request's task writes the request and
//! reads the response head itself, and the response body reads straight from the socket.
//! Between requests a connection is a socket and its read buffer, parked in the endpoint's
//! pool.
//!
//! Responses are framed by RFC 9112 section 6.3, read strictly: a response whose length is
//! ambiguous (Content-Length beside Transfer-Encoding, Content-Lengths that disagree, a bad
//! chunk) is refused, and its connection is never reused. A connection goes back to the pool
//! only when its response ended exactly where its framing said, with no byte left over.

mod body;
mod head;
mod upload;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderName, Method, Response};
use http_body::Body;
use tokio::net::TcpStream;

use crate::body::{BoxError, LimitedBody};
use crate::pool::EndpointPool;
use crate::proxy::Field;
use crate::sanitize::Added;
use body::Decode;
pub use body::H1Body;
pub(crate) use body::{Chunk, Step, decode_chunk_strict, has_bare_lf};
pub(crate) use head::parse_length;
use head::{Framing, Head, parse_head};
use upload::{Upload, encode_field, encode_fields};

/// The largest response head (each 1xx head counts on its own), and trailer section.
const MAX_HEAD: usize = 64 * 1024;
/// The most interim (1xx) heads before a response's final one.
const MAX_INTERIM: usize = 32;
/// The most header fields in a response head or a trailer section.
const MAX_HEADERS: usize = 128;
/// The longest chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4096;
/// Reads go into at least this much free buffer; a buffer with less gets a new block.
const MIN_READ: usize = 4096;
pub(crate) const READ_BLOCK: usize = 16 * 1024;

/// Reads what `io` has into `buf`, in blocks of `READ_BLOCK` once less than `MIN_READ` is free;
/// `Ok(0)` is the end of the stream. Both sides of the gateway read HTTP/1.1 this way.
pub(crate) fn poll_fill<R: tokio::io::AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < MIN_READ {
        buf.reserve(READ_BLOCK);
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

/// What went wrong between the gateway and an HTTP/1.1 upstream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("upstream I/O failed: {0}")]
    Io(#[from] io::Error),
    #[error("the upstream closed the connection before a complete response")]
    Closed,
    #[error("the upstream's response is malformed: {0}")]
    Malformed(&'static str),
    /// The client's body failed (too large, malformed, the client gone): the client's fault.
    #[error("the request body failed: {0}")]
    RequestBody(#[source] BoxError),
    /// The client's body did not match the Content-Length sent upstream: the client's fault,
    /// and the connection is dropped before a byte too many could be taken for a request.
    #[error("the request body does not match its Content-Length")]
    BodyLength,
}

impl Error {
    /// The connection ended without a word: what a keep-alive race with the upstream looks
    /// like.
    fn is_quiet_close(&self) -> bool {
        match self {
            Error::Closed => true,
            Error::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

/// An open connection to an upstream, between requests or carrying one.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TcpStream,
    /// Read from the socket and not yet consumed.
    buf: BytesMut,
    /// Whether it has carried a response already; only then can a quiet close be a
    /// keep-alive race rather than a failure.
    reused: bool,
    /// Whether anything of a response arrived in the current exchange.
    heard: bool,
    /// Interim heads skipped in the current exchange.
    interim: usize,
    /// Header positions in the head being parsed, kept to save an allocation per response.
    spans: Vec<Span>,
    /// The header names of the last response head.
    names: Names,
}

/// Header names as the peer spelled them in its last head, by position. A peer sends the same
/// fields in the same order head after head, so a name is mostly found here by comparing bytes,
/// and not parsed and classified again. Names longer than [`Names::LONGEST`] and fields past
/// [`Names::MOST`] are not remembered: a connection keeps at most 1 KiB of them, and the
/// custom names' own bytes.
#[derive(Debug, Default)]
pub(crate) struct Names {
    seen: Vec<([u8; Names::LONGEST], u8, HeaderName)>,
}

impl Names {
    const LONGEST: usize = 24;
    const MOST: usize = 16;

    /// The name of the `i`th field of a head, spelled `raw`.
    pub(crate) fn get(
        &mut self,
        i: usize,
        raw: &[u8],
    ) -> Result<HeaderName, http::header::InvalidHeaderName> {
        if let Some((spelled, len, name)) = self.seen.get(i)
            && spelled.get(..usize::from(*len)) == Some(raw)
        {
            return Ok(name.clone());
        }
        let name = HeaderName::from_bytes(raw)?;
        if raw.len() <= Self::LONGEST && i < Self::MOST && i <= self.seen.len() {
            let mut spelled = [0u8; Self::LONGEST];
            spelled[..raw.len()].copy_from_slice(raw);
            let entry = (spelled, raw.len() as u8, name.clone());
            match self.seen.get_mut(i) {
                Some(e) => *e = entry,
                None => self.seen.push(entry),
            }
        }
        Ok(name)
    }
}

/// Where a header's name and value are in the head.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

impl Conn {
    /// Boxed: a connection moves between the pool, a request and its response body, and a
    /// pointer moves cheaper than the connection.
    pub(crate) fn new(io: TcpStream) -> Box<Self> {
        Box::new(Self {
            io,
            buf: BytesMut::new(),
            reused: false,
            heard: false,
            interim: 0,
            spans: Vec::new(),
            names: Names::default(),
        })
    }

    /// Whether this idle connection can take a request: the upstream has neither closed it nor
    /// sent anything unasked. A system call is made only when the socket has news.
    pub(crate) fn is_usable(&mut self) -> bool {
        // `try_read` reads only when tokio has seen the socket readable (a close, stray bytes,
        // or readiness left over from the last response), and answers WouldBlock otherwise.
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads what the socket has into the buffer; `Ok(0)` is the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        poll_fill(&mut self.io, &mut self.buf, cx)
    }

    /// Reads until a final (non-1xx) response head is complete.
    fn poll_head(&mut self, cx: &mut Context<'_>, head_request: bool) -> Poll<Result<Head, Error>> {
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = parse_head(
                    &mut self.buf,
                    &mut self.spans,
                    &mut self.names,
                    &mut self.interim,
                    head_request,
                )? {
                    return Poll::Ready(Ok(head));
                }
                if self.buf.len() > MAX_HEAD {
                    return Poll::Ready(Err(Error::Malformed("the response head is too large")));
                }
            }
            let n = ready!(self.poll_fill(cx))?;
            self.heard |= n > 0;
            if n == 0 {
                return Poll::Ready(Err(if self.buf.is_empty() {
                    Error::Closed
                } else {
                    Error::Malformed("the response head was cut short")
                }));
            }
        }
    }
}

/// One request, ready to be sent on a connection, and sent again on another when the first
/// turns out to have been closed by the upstream before it took the request.
#[derive(Debug)]
pub(crate) struct Exchange {
    upload: Upload,
    head_request: bool,
    idempotent: bool,
}

/// A failed exchange; `again` is the request when sending it on another connection is safe.
pub(crate) struct Failed {
    pub error: Error,
    pub again: Option<Exchange>,
}

impl Exchange {
    /// Encodes `req` (an origin-form target) for HTTP/1.1, with the fields the gateway adds:
    /// `added.host` first, in place of the map's, and the others after the client's. The body
    /// is framed by the client's Content-Length (`length`) when there is one, by its exact size
    /// when known, and chunked otherwise.
    pub(crate) fn new(
        parts: &http::request::Parts,
        added: &Added,
        length: &Field,
        body: LimitedBody,
    ) -> Self {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = Vec::with_capacity(320 + target.len() + 48 * parts.headers.len());
        out.extend_from_slice(parts.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if let Some(host) = &added.host {
            encode_field(&mut out, &HOST, host);
        }
        // The client's Content-Length goes up as sent only when it is one plain number. A list
        // (`5, 5`) or repeated lines, which the server side accepted as agreeing, are written
        // again as one number, which no upstream can read another way.
        let first = length.first.as_ref();
        let plain = first
            .filter(|_| !length.more)
            .and_then(|v| parse_length(v.as_bytes()));
        let rewrite = first.is_some() && plain.is_none();
        let skip_host = added.host.as_ref().map(|_| &HOST);
        encode_fields(
            &mut out,
            &parts.headers,
            [skip_host, rewrite.then_some(&CONTENT_LENGTH)],
        );
        if let Some(hop) = &added.hop {
            out.extend_from_slice(hop.lines());
        }
        for (name, value) in added.fields() {
            encode_field(&mut out, name, value);
        }
        let method = &parts.method;
        let mut ended = body.is_end_stream();
        // The length to write (the client's own is in the head already, unless rewritten),
        // and the body bytes it promises.
        let (write_length, due) = if ended {
            let expects_body = [Method::POST, Method::PUT, Method::PATCH].contains(method);
            (
                (rewrite || (expects_body && first.is_none())).then_some(0),
                None,
            )
        } else {
            match plain.or_else(|| body.size_hint().exact()) {
                Some(n) if first.is_some() => (rewrite.then_some(n), Some(n)),
                Some(n) => (Some(n), Some(n)),
                None => (None, None),
            }
        };
        if let Some(n) = write_length {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let mut chunked = false;
        if !ended && due.is_none() {
            if *method == Method::GET || *method == Method::HEAD {
                // As hyper's client does: a GET or HEAD of unknown length is sent without a
                // body rather than chunked, which some upstreams and firewalls refuse.
                ended = true;
            } else {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                chunked = true;
            }
        }
        out.extend_from_slice(b"\r\n");
        let head = out;
        Self {
            upload: Upload {
                head,
                head_sent: 0,
                queue: Vec::new(),
                written: 0,
                body,
                chunked,
                due,
                ended,
                started: false,
                wrote: false,
            },
            head_request: parts.method == Method::HEAD,
            idempotent: parts.method.is_idempotent(),
        }
    }

    /// Sends the request on `conn` and reads the response head. The request body goes on
    /// being sent while the response streams, for upstreams that answer before they have
    /// read it all.
    pub(crate) async fn run(
        mut self,
        mut conn: Box<Conn>,
        home: &Arc<EndpointPool>,
    ) -> Result<Response<H1Body>, Failed> {
        let mut uploading = true;
        conn.heard = false;
        conn.interim = 0;
        let polled = std::future::poll_fn(|cx| {
            if uploading {
                match self.upload.poll(cx, &mut conn.io) {
                    Poll::Ready(Ok(())) => uploading = false,
                    Poll::Ready(Err(e @ (Error::RequestBody(_) | Error::BodyLength))) => {
                        return Poll::Ready(Err(e));
                    }
                    // The upstream stopped reading; it may still have answered.
                    Poll::Ready(Err(_)) => uploading = false,
                    Poll::Pending => {}
                }
            }
            conn.poll_head(cx, self.head_request)
        })
        .await;
        let head = match polled {
            Ok(head) => head,
            Err(error) => {
                // Only a close with no word of a response can be a keep-alive race.
                let resend = conn.reused
                    && error.is_quiet_close()
                    && !conn.heard
                    && !self.upload.started
                    && (!self.upload.wrote || self.idempotent);
                let again = resend.then(|| {
                    self.upload.head_sent = 0;
                    self.upload.queue.clear();
                    if self.upload.ended && self.upload.chunked {
                        // A body that ended without a frame: its last chunk goes out again.
                        self.upload.queue.push(Bytes::from_static(b"0\r\n\r\n"));
                    }
                    self.upload.written = 0;
                    self.upload.wrote = false;
                    self
                });
                return Err(Failed { error, again });
            }
        };
        let upload = (!self.upload.is_done()).then(|| Box::new(self.upload));
        let mut resp = Response::new(H1Body {
            decode: match head.framing {
                Framing::Length(n) => Decode::Length(n),
                Framing::Chunked => Decode::Chunked(Chunk::Size),
                Framing::Close => Decode::Close,
            },
            keep_alive: head.keep_alive,
            conn: Some(conn),
            upload,
            home: Some(home.clone()),
            failed: None,
        });
        *resp.status_mut() = head.status;
        *resp.headers_mut() = head.headers;
        if let Some(r) = head.reason {
            resp.extensions_mut().insert(r);
        }
        // An empty body is over before it is read: its connection can take the next request.
        resp.body_mut().finish_if_empty();
        Ok(resp)
    }
}

#[cfg(test)]
mod tests;

/// What [`read_response`] read.
#[cfg(feature = "fuzzing")]
#[derive(Debug, PartialEq, Eq)]
pub struct ReadResponse {
    pub status: http::StatusCode,
    pub body: Vec<u8>,
    /// Whether the framing lets the connection carry another response.
    pub keep_alive: bool,
    /// The bytes after the response's end.
    pub rest: usize,
}

/// Reads `wire` as an exchange reads a response to a GET (or a HEAD), without a socket: the
/// head, then the body by its framing. For the fuzz target only: built with the `fuzzing`
/// feature, never into the gateway.
#[cfg(feature = "fuzzing")]
pub fn read_response(wire: &[u8], head_request: bool) -> Result<ReadResponse, Error> {
    let mut buf = BytesMut::from(wire);
    let head = parse_head(
        &mut buf,
        &mut Vec::new(),
        &mut Names::default(),
        &mut 0,
        head_request,
    )?
    .ok_or(Error::Closed)?;
    let mut body = Vec::new();
    match head.framing {
        Framing::Length(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if buf.len() < n {
                return Err(Error::Closed);
            }
            body.extend_from_slice(&buf.split_to(n));
        }
        Framing::Close => body.extend_from_slice(&buf.split()),
        Framing::Chunked => {
            let mut state = Chunk::Size;
            loop {
                match body::decode_chunk(state, &mut buf)? {
                    body::Step::Next(next, frame) => {
                        state = next;
                        if let Some(d) = frame.and_then(|f| f.into_data().ok()) {
                            body.extend_from_slice(&d);
                        }
                    }
                    body::Step::End(_) => break,
                    body::Step::More => return Err(Error::Closed),
                }
            }
        }
    }
    Ok(ReadResponse {
        status: head.status,
        body,
        keep_alive: head.keep_alive,
        rest: buf.len(),
    })
}
