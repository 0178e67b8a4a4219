//! What the gateway itself answers: one error enum, mapped to HTTP in one exhaustive match.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Response, StatusCode};

use crate::body::ProxyBody;

/// Who caused an error: for logs now, metrics and retry decisions later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorSource {
    Client,
    Upstream,
    Gateway,
}

/// Every answer the gateway makes on its own. Upstream responses never become one of these:
/// they pass through untouched.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no route matches {method} {path}")]
    NoRoute { method: Method, path: String },
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: Method, allow: Vec<Method> },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: u64 },
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("service `{service}` has no endpoint to send this request to")]
    NoEndpoint { service: String },
    #[error("the upstream refused the connection or could not be reached")]
    UpstreamConnect,
    #[error("the upstream closed or reset the connection before a complete response")]
    UpstreamReset,
    #[error("the upstream did not answer within {0:?}")]
    UpstreamTimeout(std::time::Duration),
    #[error("the upstream could not be connected to within the connect timeout")]
    UpstreamConnectTimeout,
}

impl GatewayError {
    /// Status, problem type slug and title.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use GatewayError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            NoRoute { .. } => (StatusCode::NOT_FOUND, "no-route", "No route"),
            MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            UriTooLong { .. } => (
                StatusCode::URI_TOO_LONG,
                "uri-too-long",
                "Request target too long",
            ),
            HeadersTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
                "Request headers too large",
            ),
            NoEndpoint { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no-endpoint",
                "No endpoint available",
            ),
            UpstreamConnect => (
                StatusCode::BAD_GATEWAY,
                "upstream-connect",
                "Upstream unreachable",
            ),
            UpstreamReset => (
                StatusCode::BAD_GATEWAY,
                "upstream-reset",
                "Upstream connection reset",
            ),
            UpstreamTimeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-timeout",
                "Upstream timeout",
            ),
            UpstreamConnectTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-connect-timeout",
                "Upstream connect timeout",
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn source(&self) -> ErrorSource {
        use GatewayError::*;
        match self {
            BadRequest(_)
            | NoRoute { .. }
            | MethodNotAllowed { .. }
            | PayloadTooLarge { .. }
            | UriTooLong { .. }
            | HeadersTooLarge(_) => ErrorSource::Client,
            UpstreamConnect | UpstreamReset | UpstreamTimeout(_) | UpstreamConnectTimeout => {
                ErrorSource::Upstream
            }
            NoEndpoint { .. } => ErrorSource::Gateway,
        }
    }

    /// Whether sending the same request again could succeed without side effects doubling:
    /// only when the request never reached an upstream.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::UpstreamConnect | GatewayError::UpstreamConnectTimeout
        )
    }

    /// The `application/problem+json` response (RFC 9457).
    pub fn into_response(self, request_id: &HeaderValue) -> Response<ProxyBody> {
        let (status, slug, title) = self.parts();
        let body = serde_json::json!({
            "type": format!("urn:banyan:problem:{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": self.to_string(),
            "request_id": request_id.to_str().unwrap_or(""),
        });
        let mut resp = Response::new(ProxyBody::full(Bytes::from(body.to_string())));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let GatewayError::MethodNotAllowed { allow, .. } = &self {
            let mut list: Vec<&str> = allow.iter().map(Method::as_str).collect();
            if list.contains(&"GET") && !list.contains(&"HEAD") {
                list.push("HEAD");
            }
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                h.insert(ALLOW, v);
            }
        }
        if self.source() == ErrorSource::Client
            && status != StatusCode::NOT_FOUND
            && status != StatusCode::METHOD_NOT_ALLOWED
        {
            // A malformed or oversized request leaves the connection in a state not worth
            // trusting; the next request on it may be the tail of this one.
            h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}
