//! What the hardening modules share: HTTP/1 responses read back off a raw socket, and a
//! backend that reads every request body to its end and records whether it got all of it.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::Incoming;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::harness::{Backend, full, problem};

/// One HTTP/1.1 response as it came off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// False when the connection ended before the framing said the body was over.
    pub complete: bool,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Checks that this is a gateway problem document and returns it.
    pub fn problem(&self) -> serde_json::Value {
        let mut b = http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        let (parts, ()) = b.body(()).expect("response head").into_parts();
        problem(&parts, &self.body)
    }
}

/// Splits everything a server sent on one connection into responses, in order. The last one
/// may be incomplete (`complete: false`); bytes that are not a response head end the list.
pub fn responses(bytes: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = find(rest, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let Some(status) = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP/1.1 ").or(l.strip_prefix("HTTP/1.0 ")))
            .and_then(|l| l.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
        else {
            break;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        rest = &rest[end + 4..];
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if (100..200).contains(&status) || status == 204 || status == 304 {
            out.push(RawResponse {
                status,
                headers,
                body: Vec::new(),
                complete: true,
            });
            continue;
        }
        let (body, complete, used) = if get("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().ends_with("chunked"))
        {
            dechunk(rest)
        } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let n2 = n.min(rest.len());
            (rest[..n2].to_vec(), n2 == n, n2)
        } else {
            (rest.to_vec(), true, rest.len())
        };
        rest = &rest[used..];
        out.push(RawResponse {
            status,
            headers,
            body,
            complete,
        });
        if !complete {
            break;
        }
    }
    out
}

/// Decodes a chunked body (skipping trailers): body, whether the last chunk arrived, bytes used.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool, usize) {
    let start = rest.len();
    let mut body = Vec::new();
    loop {
        let Some(eol) = find(rest, b"\r\n") else {
            return (body, false, start - rest.len());
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (body, false, start - rest.len());
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            // Trailers, then an empty line.
            return match find(rest, b"\r\n\r\n") {
                Some(e) if e > 0 => (body, true, start - rest.len() + e + 4),
                _ if rest.starts_with(b"\r\n") => (body, true, start - rest.len() + 2),
                _ => (body, false, start - rest.len()),
            };
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..size.min(rest.len())]);
            return (body, false, start);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads until one complete response (not counting `100 Continue`) has arrived, the
/// connection ends, or `within` passes. Returns all bytes read.
pub async fn read_response(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let r = responses(&out);
        if r.iter().any(|r| r.status >= 200 && r.complete) {
            return out;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A well-behaved HTTP/2 client (the `h2` crate, which sends `:authority` and any `host`
/// header exactly as given) on a fresh connection to `addr`: status and body of one request.
pub async fn h2_request(
    addr: std::net::SocketAddr,
    req: Request<()>,
    body: Option<Bytes>,
) -> (u16, Bytes) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let answer = h2_send(&mut client, req, body).await;
    conn.abort();
    answer
}

/// Sends one request as a new stream of an open `h2` client connection: status and body.
pub async fn h2_send(
    client: &mut h2::client::SendRequest<Bytes>,
    req: Request<()>,
    body: Option<Bytes>,
) -> (u16, Bytes) {
    let (resp, mut send) = client
        .send_request(req, body.is_none())
        .expect("send request");
    if let Some(b) = body {
        send.send_data(b, true).expect("send body");
    }
    let resp = tokio::time::timeout(Duration::from_secs(10), resp)
        .await
        .expect("answer in time")
        .expect("response");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body");
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (status, out.into())
}

/// Reads a request head (for hand-written upstreams): until the empty line, EOF, or `within`.
pub async fn read_request_head(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    got
}

/// What a [`Recorder`] made of one request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub uri: String,
    /// The whole body, or why reading it failed.
    pub body: Result<Bytes, String>,
}

/// A backend that reads each request body to its end before answering `200` with the number
/// of bytes it got, so that tests can tell a complete request from an aborted one.
pub struct Recorder {
    pub backend: Backend,
    pub records: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let records: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let r2 = records.clone();
        let backend = Backend::start(move |req: Request<Incoming>| {
            let records = r2.clone();
            async move {
                let uri = req.uri().to_string();
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .map_err(|e| e.to_string());
                let answer = match &body {
                    Ok(b) => format!("got {} bytes", b.len()),
                    Err(e) => format!("body failed: {e}"),
                };
                records.lock().expect("lock").push(Recorded { uri, body });
                Response::new(full(answer))
            }
        })
        .await;
        Recorder { backend, records }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.backend.addr
    }

    /// Every request target the backend saw a head for.
    pub fn uris(&self) -> Vec<String> {
        let seen = self.backend.seen.lock().expect("lock");
        seen.iter().map(|s| s.uri.clone()).collect()
    }

    /// Waits (bounded) until every request whose head arrived has finished its body one way or
    /// the other, then returns the requests whose bodies arrived whole.
    pub async fn complete(&self) -> Vec<(String, Bytes)> {
        for _ in 0..100 {
            if self.records.lock().expect("lock").len() >= self.backend.hits() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let records = self.records.lock().expect("lock");
        records
            .iter()
            .filter_map(|r| Some((r.uri.clone(), r.body.clone().ok()?)))
            .collect()
    }
}
