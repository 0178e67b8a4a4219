//! Request heads: parsed with httparse, and framed by RFC 9112 section 6, strictly. Every
//! way a request's length could be read two ways is refused before any route is looked at.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TE, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue, Method, Request, Uri, Version};

use crate::error::GatewayError;
use crate::h1::{Names, has_bare_lf, parse_length};
use crate::proxy::Known;
use crate::sanitize::X_REQUEST_ID;

/// The most header slots parsed; `server.max_headers` is at most 1,000.
const SLOTS: usize = 1000;

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body, or `Content-Length: 0`.
    Empty,
    Length(u64),
    Chunked,
}

/// A parsed request head and what the connection needs to know of it.
#[derive(Debug)]
pub(super) struct Head {
    pub request: Request<()>,
    pub framing: Framing,
    /// The client allows the connection to carry another request.
    pub keep_alive: bool,
    /// `Expect: 100-continue` from an HTTP/1.1 client.
    pub expect_continue: bool,
    /// `TE: trailers`: the client reads trailer fields in a chunked response.
    pub trailers: bool,
    /// The fields the gateway reads itself, noted on the way.
    pub known: Known,
}

/// A header line of the head being parsed: its name, where its value is, and which known
/// field it is.
pub(crate) type Line = (HeaderName, Option<(usize, usize)>, Mark);

/// Which of the [`Known`] fields a header line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Other,
    Host,
    Length,
    RequestId,
}

/// The limits a head is read under, fixed at start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `server.max_header_bytes`. The exact check (`proxy`) counts fields, not the wire; the
    /// parser reads up to 4 KiB past it (whitespace, the request line) before it refuses.
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri: usize,
}

impl Limits {
    /// The most bytes a head may take on the wire.
    pub(super) fn wire(&self) -> usize {
        self.max_header_bytes + 4096
    }
}

fn bad<T>(m: &str) -> Result<T, GatewayError> {
    Err(GatewayError::BadRequest(m.to_string()))
}

/// Parses the head at the front of `buf`, taking it out of the buffer when it is complete;
/// `None` while it is incomplete (and within the limits).
/// `fields` is scratch space, and `names` the last head's header names, kept by the connection.
pub(super) fn parse(
    buf: &mut BytesMut,
    limits: Limits,
    fields: &mut Vec<Line>,
    names: &mut Names,
) -> Result<Option<Head>, GatewayError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; SLOTS];
    let slots = &mut slots[..limits.max_headers.clamp(1, SLOTS)];
    let mut req = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, slots)
    {
        Ok(httparse::Status::Complete(n)) if n > limits.wire() => return Err(too_large(limits)),
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.wire() => {
            return Err(too_large(limits));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(GatewayError::HeadersTooLarge(format!(
                "more than {} header fields",
                limits.max_headers
            )));
        }
        Err(httparse::Error::Version) => return bad("only HTTP/1.0 and HTTP/1.1 are spoken here"),
        Err(httparse::Error::Token) => return bad("the request method is not a valid token"),
        Err(httparse::Error::HeaderName) => return bad("a header name is not valid"),
        Err(httparse::Error::HeaderValue) => return bad("a header value is not valid"),
        Err(_) => return bad("the request head cannot be parsed"),
    };
    // RFC 9112 lets a recipient take a bare LF for a line end, as httparse does; a proxy in
    // front that does not would read other header fields than the gateway. Refused.
    if has_bare_lf(&buf[..len]) {
        return bad("a line of the request head does not end with CRLF");
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return bad("the request head cannot be parsed");
    };
    let method = Method::from_bytes(method.as_bytes())
        .or_else(|_| bad("the request method is not a valid token"))?;
    if target.len() > limits.max_uri {
        return Err(GatewayError::UriTooLong {
            limit: limits.max_uri as u64,
        });
    }
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let base = buf.as_ptr() as usize;
    let target_at = span(base, len, target.as_bytes());
    let mut lengths: Option<u64> = None;
    let mut te_count = 0usize;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    let mut trailers = false;
    fields.clear();
    for (i, f) in req.headers.iter().enumerate() {
        let name = names
            .get(i, f.name.as_bytes())
            .or_else(|_| bad("a header name is not valid"))?;
        let mut mark = Mark::Other;
        if name == HOST {
            mark = Mark::Host;
        } else if name == CONTENT_LENGTH {
            mark = Mark::Length;
            // A list of equal values (`5, 5`) is allowed by RFC 9110 8.6, and read two ways by
            // some; only one plain number per field is accepted, and repeated fields must agree.
            let n = parse_length(f.value).ok_or(GatewayError::BadRequest(
                "the Content-Length is not a single number".into(),
            ))?;
            if lengths.is_some_and(|m| m != n) {
                return bad("the Content-Length fields disagree");
            }
            lengths = Some(n);
        } else if name == TRANSFER_ENCODING {
            te_count += 1;
            chunked = f.value.trim_ascii().eq_ignore_ascii_case(b"chunked");
            if !chunked || te_count > 1 {
                return bad("the only Transfer-Encoding accepted is a single `chunked`");
            }
        } else if name == CONNECTION {
            for token in f.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name == EXPECT {
            expect_continue = f.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        } else if name == TE {
            trailers |= f
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"trailers"));
        } else if name == X_REQUEST_ID {
            mark = Mark::RequestId;
        }
        fields.push((name, span(base, len, f.value), mark));
    }
    // The head's bytes live on in the request: the target and header values are slices of it.
    let head = buf.split_to(len).freeze();
    let part =
        |at: Option<(usize, usize)>| at.map_or_else(Bytes::new, |(s, n)| head.slice(s..s + n));
    let uri = Uri::from_maybe_shared(part(target_at))
        .or_else(|_| bad("the request target is not valid"))?;
    // The fields the gateway adds go beside the map (`sanitize::Added`), not into it.
    let mut headers = crate::maps::take(fields.len());
    let mut known = Known::default();
    for (name, at, mark) in fields.drain(..) {
        let value = HeaderValue::from_maybe_shared(part(at))
            .or_else(|_| bad("a header value is not valid"))?;
        match mark {
            Mark::Other => {}
            Mark::Host => known.host.add(&value),
            Mark::Length => known.length.add(&value),
            Mark::RequestId => known.request_id.add(&value),
        }
        headers.append(name, value);
    }
    let framing = match (chunked, lengths) {
        (true, Some(_)) => {
            // RFC 9112 6.3 lets a server read this as chunked; refusing it leaves no reader
            // anywhere on the path a second way to frame it.
            return bad("the request has both Content-Length and Transfer-Encoding");
        }
        (true, None) if version == Version::HTTP_10 => {
            return bad("Transfer-Encoding is not defined for HTTP/1.0");
        }
        (true, None) => Framing::Chunked,
        (false, Some(0) | None) => Framing::Empty,
        (false, Some(n)) => Framing::Length(n),
    };
    let keep_alive = match version {
        Version::HTTP_10 => keep_alive_token && !close,
        _ => !close,
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(Head {
        request,
        framing,
        keep_alive,
        expect_continue: expect_continue && version == Version::HTTP_11,
        trailers,
        known,
    }))
}

pub(super) fn too_large(limits: Limits) -> GatewayError {
    GatewayError::HeadersTooLarge(format!(
        "the request head is larger than {} bytes",
        limits.max_header_bytes
    ))
}

/// Where `part` is in the head of `len` bytes at `base`. httparse hands back slices of the
/// buffer, except for empty values, which may be static (and are empty either way: `None`).
fn span(base: usize, len: usize, part: &[u8]) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(base)?;
    (!part.is_empty() && start + part.len() <= len).then_some((start, part.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header_bytes: 4096,
        max_headers: 10,
        max_uri: 1024,
    };

    fn head(s: &str) -> Result<Option<Head>, GatewayError> {
        parse(
            &mut BytesMut::from(s.as_bytes()),
            LIMITS,
            &mut Vec::new(),
            &mut Names::default(),
        )
    }

    fn refused(s: &str) -> String {
        match head(s) {
            Err(e) => e.to_string(),
            Ok(h) => panic!("accepted {s:?}: {h:?}"),
        }
    }

    #[test]
    fn framing_is_read_one_way_or_refused() {
        let framing = |s: &str| head(s).expect("valid").expect("complete").framing;
        assert_eq!(framing("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Framing::Empty);
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            Framing::Length(12)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n"),
            Framing::Length(3)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n"),
            Framing::Chunked
        );
        for s in [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n",
        ] {
            refused(s);
        }
    }

    #[test]
    fn connection_options_are_read() {
        let h = |s: &str| head(s).expect("valid").expect("complete");
        assert!(h("GET / HTTP/1.1\r\n\r\n").keep_alive);
        assert!(!h("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n").keep_alive);
        assert!(!h("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(h("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(h("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
        assert!(!h("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        assert!(h("GET / HTTP/1.1\r\nTE: deflate, trailers\r\n\r\n").trailers);
    }

    #[test]
    fn the_head_leaves_the_buffer_and_the_rest_stays() {
        let mut buf = BytesMut::from(&b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nGET /next"[..]);
        let h = parse(&mut buf, LIMITS, &mut Vec::new(), &mut Names::default())
            .expect("valid")
            .expect("complete");
        assert_eq!(h.request.uri(), "/a?b");
        assert_eq!(h.request.headers()["host"], "x");
        assert_eq!(&buf[..], b"GET /next");
        assert!(
            parse(&mut buf, LIMITS, &mut Vec::new(), &mut Names::default())
                .expect("valid so far")
                .is_none()
        );
    }

    #[test]
    fn limits_are_answered_with_their_status() {
        let status = |s: String| match parse(
            &mut BytesMut::from(s.as_bytes()),
            LIMITS,
            &mut Vec::new(),
            &mut Names::default(),
        ) {
            Err(e) => e.status().as_u16(),
            Ok(h) => panic!("accepted: {h:?}"),
        };
        let many: String = (0..11).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(status(format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(9000))),
            431
        );
        assert_eq!(
            status(format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(1100))),
            414
        );
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n".into()), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nX: a\x0bb\r\n\r\n".into()), 400);
    }
}
