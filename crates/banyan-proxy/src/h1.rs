//! HTTP/1.1 to upstreams, spoken by the request's own task.
//!
//! hyper's client runs each connection in a task of its own and passes the request, the
//! response and every body chunk across channels: three task switches per request, more than
//! a quarter of a proxied request's CPU. Here the request's task writes the request and reads
//! the response head itself, and the response body reads straight from the socket. Between
//! requests a connection is a socket and its read buffer, parked in the endpoint's pool.
//!
//! Responses are framed by RFC 9112 section 6.3, read strictly: a response whose length is
//! ambiguous (Content-Length beside Transfer-Encoding, Content-Lengths that disagree, a bad
//! chunk) is refused, and its connection is never reused. A connection goes back to the pool
//! only when its response ended exactly where its framing said, with no byte left over.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use crate::body::{BoxError, LimitedBody};
use crate::pool::EndpointPool;

/// The largest response head (each 1xx head counts on its own), and trailer section.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in a response head or a trailer section.
const MAX_HEADERS: usize = 128;
/// The longest chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4096;
/// Reads go into at least this much free buffer; a buffer with less gets a new block.
const MIN_READ: usize = 4096;
const READ_BLOCK: usize = 16 * 1024;

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
    /// Header positions in the head being parsed, kept to save an allocation per response.
    spans: Vec<Span>,
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
            spans: Vec::new(),
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
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.reserve(READ_BLOCK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Reads until a final (non-1xx) response head is complete.
    fn poll_head(&mut self, cx: &mut Context<'_>, head_request: bool) -> Poll<Result<Head, Error>> {
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = parse_head(&mut self.buf, &mut self.spans, head_request)? {
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

/// Parses the buffered response head, skipping interim (1xx) heads; `None` while it is
/// incomplete. `spans` is scratch space, kept by the connection.
fn parse_head(
    buf: &mut BytesMut,
    spans: &mut Vec<Span>,
    head_request: bool,
) -> Result<Option<Head>, Error> {
    loop {
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            buf,
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Error::Malformed("the response has too many header fields"));
            }
            Err(_) => return Err(Error::Malformed("the response head cannot be parsed")),
        };
        let status = resp
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(Error::Malformed("the status code is not valid"))?;
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                // The gateway never asks for an upgrade (Upgrade is hop-by-hop).
                return Err(Error::Malformed(
                    "101 Switching Protocols was not asked for",
                ));
            }
            // 100 Continue, 103 Early Hints: interim, not forwarded.
            buf.advance(len);
            continue;
        }
        let base = buf.as_ptr() as usize;
        let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
        spans.clear();
        for f in resp.headers.iter() {
            spans.push(Span {
                name: at(f.name.as_bytes()),
                value: at(f.value),
            });
        }
        let version = resp.version;
        let reason = resp.reason.map(|r| at(r.as_bytes()));
        let head = buf.split_to(len).freeze();
        return build_head(&head, spans, status, version, reason, head_request).map(Some);
    }
}

/// A response head, with what its framing says about the body and the connection.
pub(crate) struct Head {
    status: StatusCode,
    reason: Option<hyper::ext::ReasonPhrase>,
    headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
}

/// How the response body is delimited (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    /// Until the upstream closes: the connection cannot be reused.
    Close,
}

fn build_head(
    head: &Bytes,
    spans: &[Span],
    status: StatusCode,
    version: Option<u8>,
    reason: Option<(usize, usize)>,
    head_request: bool,
) -> Result<Head, Error> {
    let slice = |(at, len): (usize, usize)| head.slice(at..at + len);
    let mut headers = HeaderMap::with_capacity(spans.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let (mut close, mut keep_alive) = (false, false);
    for s in spans {
        let name = HeaderName::from_bytes(&head[s.name.0..s.name.0 + s.name.1])
            .map_err(|_| Error::Malformed("a header name is not valid"))?;
        let value = HeaderValue::from_maybe_shared(slice(s.value))
            .map_err(|_| Error::Malformed("a header value is not valid"))?;
        if name == CONTENT_LENGTH {
            for n in value.as_bytes().split(|b| *b == b',') {
                let n = parse_length(n.trim_ascii())
                    .ok_or(Error::Malformed("the Content-Length is not a number"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(Error::Malformed("the Content-Length values disagree"));
                }
                length = Some(n);
            }
        } else if name == TRANSFER_ENCODING {
            for coding in value.as_bytes().split(|b| *b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                if chunked {
                    // Anything after chunked, chunked twice included, makes the length unknowable.
                    return Err(Error::Malformed("chunked is not the last transfer coding"));
                }
                encoded = true;
                chunked = coding.eq_ignore_ascii_case(b"chunked");
            }
            // Hop-by-hop, and spent here: the response to the client is framed anew.
            continue;
        } else if name == CONNECTION {
            let mut nominates = false;
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                let (c, k) = (
                    token.eq_ignore_ascii_case(b"close"),
                    token.eq_ignore_ascii_case(b"keep-alive"),
                );
                close |= c;
                keep_alive |= k;
                nominates |= !(c || k || token.is_empty());
            }
            // Kept only when it names other headers, for the response cleaning to remove.
            if !nominates {
                continue;
            }
        } else if name.as_str() == "keep-alive" {
            continue;
        }
        headers.append(name, value);
    }
    if encoded && length.is_some() {
        // Read one way here and another by the upstream, the rest of the stream would be
        // taken for the next response.
        return Err(Error::Malformed(
            "the response has both Content-Length and Transfer-Encoding",
        ));
    }
    let no_body =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if encoded {
        Framing::Close
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    let http10 = version == Some(0);
    let keep_alive = framing != Framing::Close && !close && (!http10 || keep_alive);
    let reason = reason
        .map(slice)
        .filter(|r| Some(r.as_ref()) != status.canonical_reason().map(str::as_bytes))
        .and_then(|r| hyper::ext::ReasonPhrase::try_from(r).ok());
    Ok(Head {
        status,
        reason,
        headers,
        framing,
        keep_alive,
    })
}

/// Digits only: no sign, no spaces inside, no overflow.
fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// The request on its way up: its head, then its body in the framing the head announced.
#[derive(Debug)]
struct Upload {
    /// Encoded and not yet written, in order; the first may be partly written.
    queue: Vec<Bytes>,
    written: usize,
    body: LimitedBody,
    chunked: bool,
    /// With a Content-Length framing, the bytes still due.
    due: Option<u64>,
    /// The body has given its last frame; what is left is in `queue`.
    ended: bool,
    /// A body frame was taken: the request can no longer be sent again.
    started: bool,
    /// Some of the request reached the socket.
    wrote: bool,
}

impl Upload {
    /// Writes the request until it is all written, or the body or the socket has to wait.
    fn poll(&mut self, cx: &mut Context<'_>, io: &mut TcpStream) -> Poll<Result<(), Error>> {
        loop {
            while !self.queue.is_empty() {
                let mut slices = [IoSlice::new(&[]); 4];
                let n = self.queue.len().min(slices.len());
                slices[0] = IoSlice::new(&self.queue[0][self.written..]);
                for (s, b) in slices[1..n].iter_mut().zip(&self.queue[1..n]) {
                    *s = IoSlice::new(b);
                }
                let mut done = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n]))?;
                if done == 0 {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
                }
                self.wrote = true;
                while done > 0 {
                    let left = self.queue[0].len() - self.written;
                    if done < left {
                        self.written += done;
                        break;
                    }
                    done -= left;
                    self.queue.remove(0);
                    self.written = 0;
                }
            }
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    if self.due.is_some_and(|n| n > 0) {
                        return Poll::Ready(Err(Error::BodyLength));
                    }
                    self.ended = true;
                    if self.chunked {
                        self.queue.push(Bytes::from_static(b"0\r\n\r\n"));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(Error::RequestBody(e))),
                Some(Ok(frame)) => {
                    self.started = true;
                    match frame.into_data() {
                        Ok(data) if data.is_empty() => {}
                        Ok(data) if self.chunked => {
                            self.queue
                                .push(Bytes::from(format!("{:x}\r\n", data.len())));
                            self.queue.push(data);
                            self.queue.push(Bytes::from_static(b"\r\n"));
                        }
                        Ok(data) => {
                            let len = data.len() as u64;
                            match &mut self.due {
                                Some(due) if len > *due => {
                                    return Poll::Ready(Err(Error::BodyLength));
                                }
                                Some(due) => *due -= len,
                                None => {}
                            }
                            self.queue.push(data);
                        }
                        Err(frame) => {
                            // Trailers (already through the header policy, see `LimitedBody`)
                            // end the body; with a length framing they cannot be sent.
                            if let (Ok(trailers), true) = (frame.into_trailers(), self.chunked) {
                                let mut t = b"0\r\n".to_vec();
                                encode_fields(&mut t, &trailers);
                                t.extend_from_slice(b"\r\n");
                                self.queue.push(Bytes::from(t));
                                self.ended = true;
                                self.chunked = false;
                            }
                        }
                    }
                }
            }
        }
    }
}

fn encode_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// One request, ready to be sent on a connection, and sent again on another when the first
/// turns out to have been closed by the upstream before it took the request.
#[derive(Debug)]
pub(crate) struct Exchange {
    head: Bytes,
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
    /// Encodes `req` (an origin-form target and its `Host` already set) for HTTP/1.1. The body
    /// is framed by the client's Content-Length when there is one, by its exact size when
    /// known, and chunked otherwise.
    pub(crate) fn new(parts: &http::request::Parts, body: LimitedBody) -> Self {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = Vec::with_capacity(128 + target.len() + 48 * parts.headers.len());
        out.extend_from_slice(parts.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        encode_fields(&mut out, &parts.headers);
        let length = parts.headers.get(CONTENT_LENGTH);
        let (mut chunked, mut due, mut ended) = (false, None, body.is_end_stream());
        let method = &parts.method;
        if ended {
            let expects_body = [Method::POST, Method::PUT, Method::PATCH].contains(method);
            if expects_body && length.is_none() {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
        } else if let Some(v) = length {
            // The client's own, already checked by the server side (`5, 5` included).
            due = parse_length(v.as_bytes()).or_else(|| body.size_hint().exact());
        } else {
            match body.size_hint().exact() {
                Some(n) => {
                    out.extend_from_slice(b"content-length: ");
                    out.extend_from_slice(n.to_string().as_bytes());
                    out.extend_from_slice(b"\r\n");
                    due = Some(n);
                }
                // As hyper's client does: a GET or HEAD of unknown length is sent without a
                // body rather than chunked, which some upstreams and firewalls refuse.
                None if *method == Method::GET || *method == Method::HEAD => ended = true,
                None => {
                    out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                    chunked = true;
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        let head = Bytes::from(out);
        Self {
            upload: Upload {
                queue: vec![head.clone()],
                written: 0,
                body,
                chunked,
                due,
                ended,
                started: false,
                wrote: false,
            },
            head,
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
                    self.upload.queue = vec![self.head.clone()];
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
        let upload =
            (!self.upload.ended || !self.upload.queue.is_empty()).then(|| Box::new(self.upload));
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

/// Where a response body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Length(u64),
    Chunked(Chunk),
    Close,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
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
    decode: Decode,
    keep_alive: bool,
    /// `None` once the body is over.
    conn: Option<Box<Conn>>,
    /// The request body, when the upstream answered before it was all sent (rare: boxed).
    upload: Option<Box<Upload>>,
    home: Option<Arc<EndpointPool>>,
    /// The error the body ended with, reported on the poll after it was found.
    failed: Option<Error>,
}

impl H1Body {
    fn finish_if_empty(&mut self) {
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
enum Step {
    /// A new state, and a frame to hand on, if the step made one.
    Next(Chunk, Option<Frame<Bytes>>),
    /// The body is over, with its trailer fields if it had any.
    End(Option<HeaderMap>),
    /// The buffer holds too little to go on.
    More,
}

/// One step of the chunked decoder (RFC 9112 7.1) over the buffered bytes.
fn decode_chunk(state: Chunk, buf: &mut BytesMut) -> Result<Step, Error> {
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
            if buf.starts_with(b"\r\n") {
                buf.advance(2);
                return Ok(Step::End(None));
            }
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return if buf.len() > MAX_HEAD {
                    bad("the trailer section is too large")
                } else {
                    Ok(Step::More)
                };
            };
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let trailers = match httparse::parse_headers(&buf[..end + 4], &mut fields) {
                Ok(httparse::Status::Complete((_, fields))) => {
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
                    map
                }
                _ => return bad("the trailer section cannot be parsed"),
            };
            buf.advance(end + 4);
            Ok(Step::End(Some(trailers)))
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

#[cfg(test)]
mod tests;
