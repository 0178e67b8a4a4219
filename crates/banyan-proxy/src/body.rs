//! Bodies on the request path, without boxing: the client's body on its way up with a size
//! limit, and either the upstream's body or a small gateway-made one on the way down.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::pool::UpstreamBody;
use crate::sanitize::HeaderPolicy;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a response to the client.
#[derive(Debug)]
pub enum ProxyBody {
    /// Streamed from the upstream, frames (and trailers) passed as they come.
    Upstream(UpstreamBody),
    /// Made by the gateway: a problem document or a configured response.
    Full(Option<Bytes>),
}

impl ProxyBody {
    pub fn full(b: Bytes) -> Self {
        ProxyBody::Full(Some(b))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Upstream(b) => {
                let mut polled = Pin::new(b).poll_frame(cx);
                if let Poll::Ready(Some(Ok(frame))) = &mut polled
                    && let Some(trailers) = frame.trailers_mut()
                {
                    // Cleaned as the head was: HTTP/2 refuses connection fields in trailers,
                    // and HTTP/1.1 clients must not take them as their own.
                    crate::sanitize::clean_response(trailers);
                }
                polled
            }
            ProxyBody::Full(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream(b) => b.is_end_stream(),
            ProxyBody::Full(b) => b.as_ref().is_none_or(|b| b.is_empty()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream(b) => b.size_hint(),
            ProxyBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// A client's request body: read by the gateway's own HTTP/1.1 or HTTP/2 server.
#[derive(Debug)]
pub enum ClientBody {
    H1(crate::h1_server::RequestBody),
    H2(crate::h2_server::RequestBody),
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ClientBody::H1(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            ClientBody::H2(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::H1(b) => b.is_end_stream(),
            ClientBody::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::H1(b) => b.size_hint(),
            ClientBody::H2(b) => b.size_hint(),
        }
    }
}

/// The client's request body, cut off with [`BodyTooLarge`] past `remaining` bytes. A body that
/// announced its length was already checked against the limit before any upstream was contacted.
/// Its trailers go through the header policy, as the headers did: a trailer can no more carry
/// an identity header or a forged `X-Forwarded-For` than a header can.
#[derive(Debug)]
pub struct LimitedBody {
    /// `None`: no body (a request made again by the gateway, see `pool`).
    inner: Option<ClientBody>,
    remaining: u64,
    limit: u64,
    policy: Option<Arc<HeaderPolicy>>,
}

impl LimitedBody {
    pub fn new(inner: ClientBody, limit: u64, policy: Arc<HeaderPolicy>) -> Self {
        Self {
            inner: Some(inner),
            remaining: limit,
            limit,
            policy: Some(policy),
        }
    }

    /// A body with nothing in it.
    pub fn empty() -> Self {
        Self {
            inner: None,
            remaining: 0,
            limit: 0,
            policy: None,
        }
    }
}

/// The error a [`LimitedBody`] ends with; found again in the upstream error's source chain.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {limit} bytes")]
pub struct BodyTooLarge {
    pub limit: u64,
}

/// The error a [`LimitedBody`] ends with when the client's own body failed: malformed framing
/// (a bad chunk size, an HTTP/2 content-length that disagrees with the data) or a client that
/// went away. Found again in the upstream error's source chain, so that the client, not the
/// upstream, is blamed.
#[derive(Debug, thiserror::Error)]
#[error("the request body could not be read")]
pub struct ClientBodyError(#[source] pub BoxError);

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > this.remaining {
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge {
                            limit: this.limit,
                        }))));
                    }
                    this.remaining -= n;
                    return Poll::Ready(Some(Ok(frame)));
                }
                match (frame.into_trailers(), &this.policy) {
                    (Ok(mut trailers), Some(policy)) => {
                        policy.clean_trailers(&mut trailers);
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    // No policy: a body made by the gateway, which has no trailers.
                    (Ok(_), None) => Poll::Ready(None),
                    (Err(frame), _) => Poll::Ready(Some(Ok(frame))),
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(ClientBodyError(e))))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}
