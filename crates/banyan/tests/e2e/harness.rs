//! The end-to-end harness: a gateway on real sockets (in process, or the real binary), real
//! backends on loopback, real HTTP/1.1 and HTTP/2 clients, and raw sockets for hostile bytes.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use banyan_proxy::{Gateway, Reloader, Server};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory for one test. A test binary cannot clean up after itself when it
/// exits, so the first call removes what earlier runs, now gone, left behind.
pub fn scratch_dir() -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_scratch_dirs);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("banyan-e2e-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Removes the scratch directories of test processes that no longer run.
fn sweep_scratch_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("banyan-e2e-"))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A gateway served in this process on real sockets. The config must use port 0 for
/// listeners; `addr(i)` gives the bound address of listener `i`.
pub struct TestGateway {
    pub addrs: Vec<SocketAddr>,
    pub gateway: Arc<Gateway>,
    pub reloader: Arc<Reloader>,
    pub config_path: PathBuf,
    server: Option<Server>,
}

impl TestGateway {
    pub async fn start(yaml: &str) -> TestGateway {
        let dir = scratch_dir();
        let config_path = dir.join("banyan.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        let gateway = match Gateway::from_yaml(yaml) {
            Ok(g) => g,
            Err(e) => panic!(
                "test config is invalid:
{e}"
            ),
        };
        let server = Server::start(gateway.clone())
            .await
            .expect("gateway starts");
        let reloader = Reloader::new(gateway.clone(), config_path.clone());
        TestGateway {
            addrs: server.addrs.clone(),
            gateway,
            reloader,
            config_path,
            server: Some(server),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Writes a new config and reloads it, as SIGHUP or the admin API would.
    pub async fn reload(&self, yaml: &str) -> Result<u64, banyan_model::Diagnostics> {
        std::fs::write(&self.config_path, yaml).expect("write config");
        self.reloader.reload().await
    }

    /// Drains with a deadline, as SIGTERM does. Returns whether every connection finished.
    pub async fn shutdown(mut self, deadline: Duration) -> bool {
        match self.server.take() {
            Some(s) => s.shutdown(deadline).await,
            None => true,
        }
    }
}

/// A minimal config: one listener on port 0, one service with these endpoints, one catch-all
/// route to it. `extra` is appended to the route (e.g. `    timeout: 200ms\n`).
pub fn proxy_config(endpoints: &[SocketAddr], extra_route: &str) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|a| format!("{{ url: \"http://{a}\" }}"))
        .collect();
    format!(
        "listeners:\n  - {{ name: public, address: \"127.0.0.1:0\" }}\nadmin: {{ enabled: false }}\nservices:\n  - name: backend\n    endpoints: [{}]\nroutes:\n  - name: all\n    match: {{ path: \"/{{*rest}}\" }}\n    service: backend\n{extra_route}",
        eps.join(", ")
    )
}

/// The protocol the gateway speaks to a test's backend, for the tests that hold for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Http1,
    Http2,
}

impl Upstream {
    /// [`proxy_config`] for one backend, reached in this protocol (`protocol: http2`).
    pub fn config(self, backend: SocketAddr) -> String {
        let c = proxy_config(&[backend], "");
        match self {
            Upstream::Http1 => c,
            Upstream::Http2 => {
                c.replace("    endpoints: [", "    protocol: http2\n    endpoints: [")
            }
        }
    }

    /// Checks that the backend saw requests, all in this protocol: a test of the HTTP/2 hop
    /// proves nothing if the gateway spoke HTTP/1.1 to it.
    pub fn assert_spoken_to(self, backend: &Backend) {
        let want = match self {
            Upstream::Http1 => http::Version::HTTP_11,
            Upstream::Http2 => http::Version::HTTP_2,
        };
        let seen = backend.seen.lock().expect("lock").clone();
        assert!(!seen.is_empty(), "the backend saw no request");
        for s in &seen {
            assert_eq!(s.version, want, "not spoken to in {self:?}: {s:?}");
        }
    }
}

/// What a backend saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub version: http::Version,
    pub headers: http::HeaderMap,
}

type Handler = Arc<
    dyn Fn(
            Request<Incoming>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>
        + Send
        + Sync,
>;

/// A real HTTP/1.1 + HTTP/2 server on loopback that records every request it gets.
pub struct Backend {
    pub addr: SocketAddr,
    pub seen: Arc<std::sync::Mutex<Vec<Seen>>>,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Serves `handler` for every request.
    pub async fn start<F, Fut>(handler: F) -> Backend
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
        let seen2 = seen.clone();
        let connections: Arc<AtomicUsize> = Arc::default();
        let conns = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                conns.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        seen.lock().expect("lock").push(Seen {
                            method: req.method().to_string(),
                            uri: req.uri().to_string(),
                            version: req.version(),
                            headers: req.headers().clone(),
                        });
                        let fut = handler(req);
                        async move { Ok::<_, Infallible>(fut.await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            addr,
            seen,
            connections,
            task,
        }
    }

    /// Answers 200 with a JSON echo of what it received: method, uri, headers.
    pub async fn echo() -> Backend {
        Backend::start(|req: Request<Incoming>| async move {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        serde_json::Value::String(v.to_str().unwrap_or("").to_string()),
                    )
                })
                .collect();
            let body = serde_json::json!({
                "method": req.method().as_str(),
                "uri": req.uri().to_string(),
                "headers": headers,
            });
            Response::builder()
                .header("content-type", "application/json")
                .body(full(body.to_string()))
                .expect("response")
        })
        .await
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    pub fn last(&self) -> Option<Seen> {
        self.seen.lock().expect("lock").last().cloned()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A pooled HTTP/1.1 client.
pub fn h1_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build(connector())
}

/// An HTTP/2 cleartext (prior knowledge) client.
pub fn h2_client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector())
}

/// Connects with `TCP_NODELAY`, as curl and browsers do. Without it an upload stalls on every
/// flow-control window: the frame after a window update waits in Nagle's buffer for the
/// gateway's delayed ACK, 40 ms each time.
fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c
}

/// Sends a request and reads the whole response.
pub async fn send(
    client: &Client<HttpConnector, Body>,
    req: Request<Body>,
) -> (http::response::Parts, Bytes) {
    let resp = client.request(req).await.expect("request");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts, body)
}

/// GET `url` over HTTP/1.1; returns status, headers and body.
pub async fn get(url: &str) -> (http::response::Parts, Bytes) {
    let req = Request::get(url).body(empty()).expect("request");
    send(&h1_client(), req).await
}

/// Parses a problem+json body and checks its shape.
pub fn problem(parts: &http::response::Parts, body: &[u8]) -> serde_json::Value {
    assert_eq!(
        parts.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..]),
        "not a problem document: {parts:?}"
    );
    let v: serde_json::Value = serde_json::from_slice(body).expect("problem json");
    for field in ["type", "title", "status", "detail", "request_id"] {
        assert!(v.get(field).is_some(), "problem without `{field}`: {v}");
    }
    assert_eq!(v["status"].as_u64(), Some(u64::from(parts.status.as_u16())));
    v
}

/// Sends raw bytes on a fresh connection, then reads until the server closes or `wait` passes
/// without data. Returns everything the server sent.
pub async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_until_quiet(&mut s, wait).await
}

/// Reads until EOF, or until `wait` passes with nothing new.
pub async fn read_until_quiet(s: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True when the server closed the connection (EOF or reset) within `within`.
pub async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// The status code of each HTTP/1.1 response in `text`, in order.
pub fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// The real `banyan` binary, started on a config file; killed on drop if still running.
pub struct BinaryGateway {
    pub child: Child,
    pub config_path: PathBuf,
}

impl BinaryGateway {
    /// Starts `banyan run -c` on `yaml`, and waits until `ready_addr` accepts connections.
    pub async fn start(yaml: &str, ready_addr: SocketAddr) -> BinaryGateway {
        let dir = scratch_dir();
        let config_path = dir.join("banyan.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        // Reaped in `Drop` (or by `wait_exit`).
        #[allow(clippy::zombie_processes)]
        let child = Command::new(env!("CARGO_BIN_EXE_banyan"))
            .args(["run", "-c"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start banyan");
        for _ in 0..200 {
            if TcpStream::connect(ready_addr).await.is_ok() {
                return BinaryGateway { child, config_path };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("banyan did not start listening on {ready_addr}");
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits for the process to exit (up to `within`) and returns its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for BinaryGateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free loopback port (bound, then released) for the binary tests, which need to know the
/// address before the process starts.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// A response or request body fed from a channel: each `send` becomes one frame, and the body
/// ends when the sender is dropped. For tests that must see a body's first bytes arrive before
/// its end exists.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
    struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);
    impl hyper::body::Body for ChannelBody {
        type Data = Bytes;
        type Error = Box<dyn std::error::Error + Send + Sync>;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            self.get_mut()
                .0
                .poll_recv(cx)
                .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    (tx, ChannelBody(rx).boxed())
}

/// A gate that held requests wait on until the test opens it; opening is permanent.
#[derive(Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::watch::channel(false).0))
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    pub async fn passed(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

impl Backend {
    /// Answers 200 with `body`, but only once `gate` opens: a slow upstream the test controls.
    pub async fn held(gate: Gate, body: &'static str) -> Backend {
        Backend::start(move |_req| {
            let gate = gate.clone();
            async move {
                gate.passed().await;
                Response::new(full(body))
            }
        })
        .await
    }

    /// Answers 200 with `body`, always.
    pub async fn fixed(body: &'static str) -> Backend {
        Backend::start(move |_req| async move { Response::new(full(body)) }).await
    }

    /// Waits (a bounded number of polls) until the backend has seen `n` requests.
    pub async fn wait_hits(&self, n: usize) {
        for _ in 0..400 {
            if self.hits() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the backend saw {} requests, not {n}", self.hits());
    }
}

impl BinaryGateway {
    /// As [`BinaryGateway::start`], with more flags for `banyan run` (e.g. `--no-watch`).
    pub async fn start_with(yaml: &str, ready_addr: SocketAddr, args: &[&str]) -> BinaryGateway {
        let config_path = scratch_dir().join("banyan.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        BinaryGateway::start_at(config_path, ready_addr, args).await
    }

    /// As [`BinaryGateway::start_with`], on a config file the test laid out itself.
    pub async fn start_at(
        config_path: PathBuf,
        ready_addr: SocketAddr,
        args: &[&str],
    ) -> BinaryGateway {
        BinaryGateway::start_at_with_env(config_path, ready_addr, args, &[]).await
    }

    /// As [`BinaryGateway::start_at`], with more variables in the process's environment (e.g.
    /// `BANYAN_WORKERS`).
    pub async fn start_at_with_env(
        config_path: PathBuf,
        ready_addr: SocketAddr,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> BinaryGateway {
        let child = Command::new(env!("CARGO_BIN_EXE_banyan"))
            .args(["run", "-c"])
            .arg(&config_path)
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start banyan");
        let mut gw = BinaryGateway { child, config_path };
        for _ in 0..200 {
            if TcpStream::connect(ready_addr).await.is_ok() {
                return gw;
            }
            if let Ok(Some(status)) = gw.child.try_wait() {
                panic!("banyan exited with {status} before listening on {ready_addr}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = gw.child.kill();
        panic!("banyan did not start listening on {ready_addr}");
    }

    /// Replaces the config file the way editors and `kubectl` do: write aside, then rename.
    pub fn replace_config(&self, yaml: &str) {
        let tmp = self.config_path.with_extension("yaml.tmp");
        std::fs::write(&tmp, yaml).expect("write config");
        std::fs::rename(&tmp, &self.config_path).expect("rename config");
    }
}

/// Polls (a bounded number of times) until `addr` refuses connections; false if it never does.
pub async fn refused_soon(addr: SocketAddr) -> bool {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// GETs `url` until the body equals `want`, a bounded number of times; returns the last body.
pub async fn poll_body(url: &str, want: &str) -> String {
    let client = h1_client();
    let mut last = String::new();
    for _ in 0..200 {
        let req = Request::get(url).body(empty()).expect("request");
        if let Ok(resp) = client.request(req).await
            && let Ok(body) = resp.into_body().collect().await
        {
            last = String::from_utf8_lossy(&body.to_bytes()).into_owned();
            if last == want {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    last
}

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::BytesMut;
use hyper::body::{Frame, SizeHint};
use sha2::{Digest, Sha256};

/// The size of each chunk a [`Generated`] body yields.
const GENERATED_CHUNK: usize = 64 * 1024;

/// A deterministic body of `len` bytes, made chunk by chunk (never held whole) and hashed as it
/// is made. Each chunk is a slice of one pseudo-random block stamped with its index, so that a
/// lost, repeated or reordered chunk changes the digest.
pub struct Generated {
    block: Bytes,
    remaining: u64,
    index: u64,
    hasher: Sha256,
    digest: DigestSlot,
}

/// Where a generated body leaves its SHA-256 once its last byte is made.
pub type DigestSlot = Arc<Mutex<Option<String>>>;

impl Generated {
    pub fn new(len: u64) -> (Generated, DigestSlot) {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = BytesMut::with_capacity(GENERATED_CHUNK * 2);
        while block.len() < GENERATED_CHUNK * 2 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        let digest = Arc::new(Mutex::new(None));
        let body = Generated {
            block: block.freeze(),
            remaining: len,
            index: 0,
            hasher: Sha256::new(),
            digest: digest.clone(),
        };
        (body, digest)
    }
}

impl hyper::body::Body for Generated {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = GENERATED_CHUNK.min(this.remaining as usize);
        let offset = (this.index as usize * 8) % GENERATED_CHUNK;
        let mut chunk = BytesMut::with_capacity(n);
        chunk.extend_from_slice(&this.index.to_le_bytes()[..n.min(8)]);
        if n > 8 {
            chunk.extend_from_slice(&this.block[offset + 8..offset + n]);
        }
        this.hasher.update(&chunk);
        this.remaining -= n as u64;
        this.index += 1;
        if this.remaining == 0 {
            // Recorded with the last chunk: a sender may stop polling once the length is met.
            let h = std::mem::take(&mut this.hasher);
            *this.digest.lock().expect("lock") = Some(format!("{:x}", h.finalize()));
        }
        Poll::Ready(Some(Ok(Frame::data(chunk.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Reads a body to its end without keeping it: its length and SHA-256, or the error that cut
/// it short.
pub async fn digest_of<B>(mut body: B) -> Result<(u64, String), String>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            hasher.update(&data);
        }
    }
    Ok((len, format!("{:x}", hasher.finalize())))
}

/// Data, then trailers, with no announced length: sent chunked, so trailers can follow.
pub struct WithTrailers {
    pub data: Option<Bytes>,
    pub trailers: Option<http::HeaderMap>,
}

impl hyper::body::Body for WithTrailers {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = match this.data.take() {
            Some(d) => Some(hyper::body::Frame::data(d)),
            None => this.trailers.take().map(hyper::body::Frame::trailers),
        };
        std::task::Poll::Ready(frame.map(Ok))
    }
}
