//! Bodies through a service spoken to over HTTP/2 (`protocol: http2`) arrive intact or visibly
//! broken, as they do through HTTP/1.1 upstreams: large bodies are byte-identical both ways,
//! trailers pass in both directions, a body the upstream cuts short reaches the client as an
//! error (never as a shorter complete response), and a slow body streams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::harness::*;
use crate::integrity::{
    big_bodies_arrive_byte_identical, trailers_reach_an_http1_client_that_asks,
    trailers_reach_an_http2_client,
};
use crate::streaming::first_bytes_of_a_slow_response_arrive_before_it_ends;
use crate::upstream_h1::request_trailers_pass_the_header_policy;
use crate::upstream_http2::h2_config;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(10);

/// 64 MiB each way between an HTTP/1.1 client and an HTTP/2 service arrive byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_cross_an_http2_upstream_byte_identical_from_http1() {
    big_bodies_arrive_byte_identical(h1_client(), Upstream::Http2).await;
}

/// The same from an HTTP/2 client: HTTP/2 on both hops, each with its own flow control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_cross_an_http2_upstream_byte_identical_from_http2() {
    big_bodies_arrive_byte_identical(h2_client(), Upstream::Http2).await;
}

#[tokio::test]
async fn trailers_from_an_http2_upstream_reach_an_http2_client() {
    trailers_reach_an_http2_client(Upstream::Http2).await;
}

#[tokio::test]
async fn trailers_from_an_http2_upstream_reach_an_http1_client_that_asks_for_them() {
    trailers_reach_an_http1_client_that_asks(Upstream::Http2).await;
}

#[tokio::test]
async fn request_trailers_reach_an_http2_upstream_through_the_header_policy() {
    request_trailers_pass_the_header_policy(Upstream::Http2).await;
}

/// How an HTTP/2 upstream breaks off a response after its first bytes.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// `RST_STREAM` with `INTERNAL_ERROR` on the stream.
    ResetStream,
    /// The TCP connection closed, without `GOAWAY`.
    DropConnection,
    /// `END_STREAM` before the announced `content-length` was reached.
    EndShort,
}

const FIRST: &[u8] = b"0123456789";

/// An HTTP/2 upstream (the h2 crate's server) that answers every request `200` with
/// `content-length: length` if given, sends [`FIRST`], then waits for `go` and breaks off as
/// `cut` says.
async fn cutting_upstream(
    cut: Cut,
    length: Option<u64>,
    go: Arc<Notify>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        // Bounded: each case makes a connection or three.
        for _ in 0..8 {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let go = go.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                let drop_it = Arc::new(Notify::new());
                loop {
                    let next = tokio::select! {
                        next = conn.accept() => next,
                        // Dropping the connection closes the socket, mid-stream.
                        () = drop_it.notified() => return,
                    };
                    let Some(Ok((_req, mut respond))) = next else {
                        return;
                    };
                    let (go, drop_it) = (go.clone(), drop_it.clone());
                    tokio::spawn(async move {
                        let mut head = Response::builder().header("content-type", "text/plain");
                        if let Some(n) = length {
                            head = head.header("content-length", n);
                        }
                        let head = head.body(()).expect("response");
                        let Ok(mut body) = respond.send_response(head, false) else {
                            return;
                        };
                        let _ = body.send_data(Bytes::from_static(FIRST), false);
                        go.notified().await;
                        match cut {
                            Cut::ResetStream => body.send_reset(h2::Reason::INTERNAL_ERROR),
                            Cut::DropConnection => drop_it.notify_one(),
                            Cut::EndShort => {
                                let _ = body.send_data(Bytes::new(), true);
                            }
                        }
                    });
                }
            });
        }
    });
    (addr, task)
}

/// An HTTP/1.1 client (hyper's): the head and the first bytes arrive, then the body fails.
async fn hyper_h1_sees_an_error(gw: &TestGateway, go: &Notify, case: &str) {
    let outcome = tokio::time::timeout(WAIT, async {
        let req = Request::get(gw.url("/file"))
            .body(empty())
            .expect("request");
        let resp = h1_client().request(req).await.expect("response head");
        assert_eq!(resp.status(), StatusCode::OK, "{case}");
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while got.len() < FIRST.len() {
            let frame = body
                .frame()
                .await
                .unwrap_or_else(|| panic!("{case}: the body ended before its first bytes"))
                .unwrap_or_else(|e| panic!("{case}: the body failed before its first bytes: {e}"));
            if let Ok(data) = frame.into_data() {
                got.extend_from_slice(&data);
            }
        }
        assert_eq!(got, FIRST, "{case}");
        go.notify_one();
        body.collect().await.map(|c| c.to_bytes())
    })
    .await
    .unwrap_or_else(|_| panic!("{case}: HTTP/1.1: neither an end nor an error in time"));
    assert!(
        outcome.is_err(),
        "{case}: HTTP/1.1: a cut-off body arrived as complete: {outcome:?}"
    );
}

/// A raw HTTP/1.1 client on a keep-alive connection: a response whose framing never
/// completes, and the connection closed after it.
async fn raw_h1_sees_a_truncated_message(gw: &TestGateway, go: &Notify, case: &str) {
    let mut s = TcpStream::connect(gw.addr()).await.expect("connect");
    s.write_all(b"GET /file HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("write");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let mut released = false;
    let closed = loop {
        if !released && responses(&got).first().is_some_and(|r| r.body == FIRST) {
            go.notify_one();
            released = true;
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&got);
    assert!(released, "{case}: the first bytes never arrived: {text:?}");
    let r = responses(&got);
    assert_eq!(r.len(), 1, "{case}: {text:?}");
    assert_eq!(r[0].status, 200, "{case}: {text:?}");
    assert!(
        !r[0].complete,
        "{case}: a cut-off body was framed as complete: {text:?}"
    );
    assert!(
        closed,
        "{case}: the connection stayed open after a truncated response: {text:?}"
    );
}

/// An HTTP/2 client (the h2 crate's, to see the frames' meaning): the first bytes, then the
/// stream reset.
async fn h2_sees_a_stream_reset(gw: &TestGateway, go: &Notify, case: &str) {
    let tcp = TcpStream::connect(gw.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let req = Request::get("http://a/file").body(()).expect("request");
    let (resp, _) = client.send_request(req, true).expect("send");
    let end = tokio::time::timeout(WAIT, async {
        let resp = resp.await.expect("response head");
        assert_eq!(resp.status(), 200, "{case}");
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while got.len() < FIRST.len() {
            let chunk = body
                .data()
                .await
                .unwrap_or_else(|| panic!("{case}: the body ended before its first bytes"))
                .unwrap_or_else(|e| panic!("{case}: the body failed before its first bytes: {e}"));
            let _ = body.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, FIRST, "{case}");
        go.notify_one();
        loop {
            match body.data().await {
                Some(Ok(chunk)) => {
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(body.trailers().await),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{case}: HTTP/2: neither an end nor an error in time"));
    match end {
        Err(e) => assert!(
            e.is_reset(),
            "{case}: HTTP/2: the stream ended in an error that is not a stream reset: {e:?}"
        ),
        Ok(trailers) => panic!("{case}: HTTP/2: a cut-off body arrived as complete: {trailers:?}"),
    }
    conn.abort();
}

/// A response an HTTP/2 upstream breaks off after its first bytes (a stream reset, a dropped
/// connection, or an end before its `content-length`) reaches every client as broken: an
/// HTTP/1.1 client sees an incomplete message and a closed connection, an HTTP/2 client a
/// stream reset. None of them gets a complete, shorter response.
#[tokio::test]
async fn a_body_an_http2_upstream_cuts_short_reaches_the_client_as_an_error() {
    for (cut, length) in [
        (Cut::ResetStream, None),
        (Cut::ResetStream, Some(1000)),
        (Cut::DropConnection, None),
        (Cut::DropConnection, Some(1000)),
        (Cut::EndShort, Some(1000)),
    ] {
        let case = format!("{cut:?}, content-length {length:?}");
        let go = Arc::new(Notify::new());
        let (addr, task) = cutting_upstream(cut, length, go.clone()).await;
        let gw = TestGateway::start(&h2_config(addr)).await;
        hyper_h1_sees_an_error(&gw, &go, &case).await;
        raw_h1_sees_a_truncated_message(&gw, &go, &case).await;
        h2_sees_a_stream_reset(&gw, &go, &case).await;
        task.abort();
    }
}

#[tokio::test]
async fn the_first_bytes_of_a_slow_response_from_an_http2_upstream_arrive_before_it_ends() {
    first_bytes_of_a_slow_response_arrive_before_it_ends(Upstream::Http2).await;
}
