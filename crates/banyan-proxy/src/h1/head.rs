//! Response heads: parsed with httparse, and framed by RFC 9112 section 6.3, strictly.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{Error, MAX_HEAD, MAX_HEADERS, MAX_INTERIM, Names, Span};

/// Parses the buffered response head, skipping interim (1xx) heads, at most [`MAX_INTERIM`]
/// of them, counted in `interim` across calls; `None` while it is incomplete. `spans` is
/// scratch space, kept by the connection.
pub(super) fn parse_head(
    buf: &mut BytesMut,
    spans: &mut Vec<Span>,
    names: &mut Names,
    interim: &mut usize,
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
            // However much one read brought in, no head may pass the limit.
            Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
                return Err(Error::Malformed("the response head is too large"));
            }
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
            // 100 Continue, 103 Early Hints: interim, not forwarded. An upstream that sends
            // them without end would hold the exchange, and spend the gateway's time, until the
            // route's timeout.
            *interim += 1;
            if *interim > MAX_INTERIM {
                return Err(Error::Malformed(
                    "the upstream sent too many interim responses",
                ));
            }
            buf.advance(len);
            continue;
        }
        // Where a parsed piece sits in the head. httparse hands back slices of the buffer,
        // except for a reason phrase that is not UTF-8, which it gives as a static "".
        let base = buf.as_ptr() as usize;
        let at = |s: &[u8]| {
            let start = (s.as_ptr() as usize).checked_sub(base)?;
            (start + s.len() <= len).then_some((start, s.len()))
        };
        spans.clear();
        for f in resp.headers.iter() {
            let (Some(name), Some(value)) = (at(f.name.as_bytes()), at(f.value)) else {
                return Err(Error::Malformed("the response head cannot be parsed"));
            };
            spans.push(Span { name, value });
        }
        let version = resp.version;
        let reason = resp.reason.and_then(|r| at(r.as_bytes()));
        let head = buf.split_to(len).freeze();
        return build_head(&head, spans, names, status, version, reason, head_request).map(Some);
    }
}

/// A response head, with what its framing says about the body and the connection.
pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) reason: Option<hyper::ext::ReasonPhrase>,
    pub(super) headers: HeaderMap,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
}

/// How the response body is delimited (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
    /// Until the upstream closes: the connection cannot be reused.
    Close,
}

pub(super) fn build_head(
    head: &Bytes,
    spans: &[Span],
    names: &mut Names,
    status: StatusCode,
    version: Option<u8>,
    reason: Option<(usize, usize)>,
    head_request: bool,
) -> Result<Head, Error> {
    let slice = |(at, len): (usize, usize)| head.slice(at..at + len);
    let mut headers = crate::maps::take(spans.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let (mut close, mut keep_alive) = (false, false);
    let no_body =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    for (i, s) in spans.iter().enumerate() {
        let name = names
            .get(i, &head[s.name.0..s.name.0 + s.name.1])
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
            // A body's length travels as the body's exact size, and is written again where the
            // response goes out. A response without a body (to HEAD, a 304) keeps the field to
            // say the length a GET would have had; so does an empty one, whose body is over
            // before HTTP/2 (hyper) would write a length from its size.
            if !no_body && length != Some(0) {
                continue;
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

/// A Content-Length value: digits only, no sign, no spaces inside, no list, no overflow.
pub(crate) fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}
