//! HTTP/1.1 responses as upstreams really send them: interim heads, bodies that end when the
//! connection does, lengths that contradict each other, and answers that come before the
//! request body has all been sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::*;
use crate::wire::*;

const WAIT: Duration = Duration::from_secs(5);

/// An upstream that reads each request head and answers it with `answer`, then closes the
/// connection when `close` is set. Counts the connections it accepted.
async fn scripted(answer: &'static str, close: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        // Bounded: each test makes a few requests.
        for _ in 0..16 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                while !read_request_head(&mut s, WAIT).await.is_empty() {
                    if s.write_all(answer.as_bytes()).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Sends one GET through the gateway on a fresh connection; returns what came back, parsed.
async fn one_get(gw: &TestGateway) -> Vec<RawResponse> {
    let text = raw(
        gw.addr(),
        b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    responses(text.as_bytes())
}

#[tokio::test]
async fn interim_responses_are_not_forwarded() {
    let (up, _) = scripted(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        false,
    )
    .await;
    let gw = TestGateway::start(&proxy_config(&[up], "")).await;
    let r = one_get(&gw).await;
    assert_eq!(r.len(), 1, "one final response, nothing interim: {r:?}");
    assert_eq!((r[0].status, &r[0].body[..]), (200, &b"ok"[..]));
    assert!(r[0].header("link").is_none());
}

#[tokio::test]
async fn a_switching_protocols_nobody_asked_for_is_a_502() {
    let (up, _) = scripted(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        false,
    )
    .await;
    let gw = TestGateway::start(&proxy_config(&[up], "")).await;
    let r = one_get(&gw).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].status, 502);
    assert_eq!(r[0].problem()["status"], 502);
}

#[tokio::test]
async fn a_body_that_ends_with_its_connection_arrives_whole_and_the_connection_is_not_reused() {
    let (up, accepted) = scripted("HTTP/1.0 200 OK\r\n\r\nuntil the very end", true).await;
    let gw = TestGateway::start(&proxy_config(&[up], "")).await;
    for round in 1..=2 {
        let r = one_get(&gw).await;
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].complete, "round {round}: the body was cut: {r:?}");
        assert_eq!(
            (r[0].status, &r[0].body[..]),
            (200, &b"until the very end"[..])
        );
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "a closed connection was reused"
    );
}

#[tokio::test]
async fn responses_with_contradicting_lengths_are_502s_and_their_connections_dropped() {
    for answer in [
        "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok!",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ] {
        let (up, accepted) = scripted(answer, false).await;
        let gw = TestGateway::start(&proxy_config(&[up], "")).await;
        for _ in 0..2 {
            let r = one_get(&gw).await;
            assert_eq!(r.len(), 1, "{answer:?}: {r:?}");
            assert_eq!(r[0].status, 502, "{answer:?} was passed on");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "{answer:?}: the connection was reused"
        );
    }
}

#[tokio::test]
async fn chunked_responses_pass_with_extensions_and_keep_their_connection() {
    let (up, accepted) = scripted(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
         3;note=first\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        false,
    )
    .await;
    let gw = TestGateway::start(&proxy_config(&[up], "")).await;
    for _ in 0..3 {
        let (parts, body) = get(&gw.url("/x")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(&body[..], b"abcde");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_before_the_upload_ends_reaches_the_client_at_once() {
    // The upstream refuses on the head alone, then reads (and drops) whatever body comes.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        read_request_head(&mut s, WAIT).await;
        let _ = s
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")
            .await;
        let mut sink = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(WAIT, s.read(&mut sink)).await {
            if n == 0 {
                break;
            }
        }
    });
    let gw = TestGateway::start(&proxy_config(&[up], "")).await;
    let (tx, body) = channel_body();
    tx.send(Bytes::from_static(b"first part"))
        .await
        .expect("send");
    let req = Request::post(gw.url("/upload"))
        .body(body)
        .expect("request");
    let resp = tokio::time::timeout(WAIT, h1_client().request(req))
        .await
        .expect("the answer waited for the end of the upload")
        .expect("response");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    drop(tx);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"nope");
}

#[tokio::test]
async fn a_full_duplex_upstream_echoes_while_the_upload_goes_on() {
    // Echoes the request body as it arrives: each part comes back before the next is sent,
    // which only works if the gateway keeps sending after the response has begun.
    let backend = Backend::start(|req: Request<Incoming>| async move {
        Response::new(req.into_body().map_err(Into::into).boxed())
    })
    .await;
    let gw = TestGateway::start(&proxy_config(&[backend.addr], "")).await;
    for client in [h1_client(), h2_client()] {
        let (tx, body) = channel_body();
        tx.send(Bytes::from_static(b"ping 1")).await.expect("send");
        let req = Request::post(gw.url("/echo")).body(body).expect("request");
        let resp = tokio::time::timeout(WAIT, client.request(req))
            .await
            .expect("response head")
            .expect("response");
        let mut body = resp.into_body();
        let mut echoed = Vec::new();
        for part in [&b"ping 2"[..], b"ping 3"] {
            let frame = tokio::time::timeout(WAIT, body.frame())
                .await
                .expect("the echo stalled")
                .expect("a frame")
                .expect("no error");
            echoed.extend_from_slice(frame.data_ref().expect("data"));
            tx.send(Bytes::from_static(part)).await.expect("send");
        }
        drop(tx);
        let rest = body.collect().await.expect("rest").to_bytes();
        echoed.extend_from_slice(&rest);
        assert_eq!(echoed, b"ping 1ping 2ping 3");
    }
}

/// A client's request trailers (a checksum after an upload, say) reach the upstream, from an
/// HTTP/1.1 chunked body and from an HTTP/2 client, through the header policy: what a header
/// could not carry (identity, forwarding claims, the request id), a trailer cannot either.
pub(crate) async fn request_trailers_pass_the_header_policy(upstream: Upstream) {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let slot = seen.clone();
    let backend = Backend::start(move |req: Request<Incoming>| {
        let slot = slot.clone();
        async move {
            let collected = req.into_body().collect().await.expect("body");
            *slot.lock().expect("lock") = Some(collected.trailers().cloned());
            Response::new(full("ok"))
        }
    })
    .await;
    let gw = TestGateway::start(&upstream.config(backend.addr)).await;
    let check = |client: &str| {
        let got = seen
            .lock()
            .expect("lock")
            .take()
            .unwrap_or_else(|| panic!("{client}: the upstream read no body"))
            .unwrap_or_else(|| panic!("{client}: the upstream got no trailers"));
        assert_eq!(
            got.get("x-checksum").map(|v| v.as_bytes()),
            Some(&b"abc"[..]),
            "{client}: {got:?}"
        );
        for forged in ["x-banyan-consumer", "x-forwarded-for", "x-request-id"] {
            assert!(
                got.get(forged).is_none(),
                "{client}: {forged} passed as a trailer: {got:?}"
            );
        }
    };

    let text = raw(
        gw.addr(),
        b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\
          Connection: close\r\n\r\n7\r\npayload\r\n0\r\nx-checksum: abc\r\n\
          x-banyan-consumer: forged\r\nx-forwarded-for: 203.0.113.9\r\nx-request-id: forged-id\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&text), [200], "{text}");
    check("HTTP/1.1");

    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().expect("value"));
    trailers.insert("x-banyan-consumer", "forged".parse().expect("value"));
    trailers.insert("x-forwarded-for", "203.0.113.9".parse().expect("value"));
    trailers.insert("x-request-id", "forged-id".parse().expect("value"));
    let body = WithTrailers {
        data: Some(Bytes::from_static(b"payload")),
        trailers: Some(trailers),
    }
    .boxed();
    let req = Request::post(gw.url("/t")).body(body).expect("request");
    let (parts, _) = tokio::time::timeout(WAIT, send(&h2_client(), req))
        .await
        .expect("answered in time");
    assert_eq!(parts.status, StatusCode::OK);
    check("HTTP/2");
    upstream.assert_spoken_to(&backend);
}

#[tokio::test]
async fn request_trailers_pass_the_header_policy_like_headers() {
    request_trailers_pass_the_header_policy(Upstream::Http1).await;
}

#[tokio::test]
async fn a_get_whose_empty_body_ends_late_goes_up_without_a_body() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&proxy_config(&[backend.addr], "")).await;
    // HTTP/2 HEADERS without END_STREAM, then an empty DATA frame that ends the stream.
    let (tx, body) = channel_body();
    let req = Request::get(gw.url("/late")).body(body).expect("request");
    let pending = tokio::spawn(async move { send(&h2_client(), req).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(tx);
    let (parts, _) = pending.await.expect("task");
    assert_eq!(parts.status, StatusCode::OK);
    let seen = backend.last().expect("the upstream got the request");
    assert!(
        seen.headers.get("transfer-encoding").is_none()
            && seen.headers.get("content-length").is_none(),
        "a GET went up with a body framing: {:?}",
        seen.headers
    );
}

#[tokio::test]
async fn repeated_content_length_lines_go_up_as_one() {
    let backend = Backend::echo().await;
    let gw = TestGateway::start(&proxy_config(&[backend.addr], "")).await;
    let text = raw(
        gw.addr(),
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        WAIT,
    )
    .await;
    assert_eq!(statuses(&text), [200], "{text}");
    let seen = backend.last().expect("the upstream got the request");
    let lengths: Vec<_> = seen.headers.get_all("content-length").iter().collect();
    assert_eq!(lengths, ["5"], "{:?}", seen.headers);
}

/// An HTTP/1.1 upstream's length reaches HTTP/2 clients as `content-length`, an empty body's
/// `0` included (its stream ends with the head, so hyper would not write one from the size).
#[tokio::test]
async fn upstream_lengths_reach_http2_clients_zero_included() {
    for (answer, want) in [
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "0"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "5"),
    ] {
        let (up, _) = scripted(answer, false).await;
        let gw = TestGateway::start(&proxy_config(&[up], "")).await;
        let req = Request::get(gw.url("/x")).body(empty()).expect("request");
        let (parts, body) = send(&h2_client(), req).await;
        assert_eq!(parts.version, http::Version::HTTP_2);
        assert_eq!(
            parts
                .headers
                .get_all("content-length")
                .iter()
                .collect::<Vec<_>>(),
            [want],
            "{answer:?}"
        );
        assert_eq!(body.len().to_string(), want);
    }
}

/// An upstream's own `x-request-id` lines give way to the gateway's: a client gets exactly
/// one, over HTTP/1.1 and HTTP/2, here its own, kept because it is well formed.
#[tokio::test]
async fn the_gateways_request_id_replaces_the_upstreams() {
    let (up, _) = scripted(
        "HTTP/1.1 200 OK\r\nx-request-id: upstream-1\r\nContent-Length: 2\r\n\
         X-Request-Id: upstream-2\r\n\r\nok",
        false,
    )
    .await;
    let gw = TestGateway::start(&proxy_config(&[up], "")).await;
    let got = raw(
        gw.addr(),
        b"GET /x HTTP/1.1\r\nHost: a\r\nx-request-id: trace-9\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    let got = responses(got.as_bytes());
    assert_eq!(got.len(), 1, "{got:?}");
    let ids: Vec<_> = got[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids, ["trace-9"], "{got:?}");
    assert_eq!(got[0].body, b"ok");

    let req = Request::get(gw.url("/x"))
        .header("x-request-id", "trace-10")
        .body(empty())
        .expect("request");
    let (parts, _) = send(&h2_client(), req).await;
    assert_eq!(
        parts
            .headers
            .get_all("x-request-id")
            .iter()
            .collect::<Vec<_>>(),
        ["trace-10"]
    );
}

/// An upstream that sends interim heads without end, and never a final one, is cut off after
/// 32 of them with a 502, well before the route's timeout of 60 s.
#[tokio::test]
async fn endless_interim_heads_end_in_a_502() {
    // A thread of its own, writing as fast as the socket takes it: the gateway's every read
    // finds more heads waiting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = listener.local_addr().expect("addr");
    let flood = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(WAIT));
        let _ = s.read(&mut [0u8; 4096]);
        let heads = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(512);
        // Ends when the gateway drops the connection, or after 20 s.
        let until = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < until && s.write_all(&heads).is_ok() {}
    });
    let gw = TestGateway::start(&proxy_config(&[up], "    timeout: 60s\n")).await;
    let r = one_get(&gw).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].status, 502);
    assert_eq!(r[0].problem()["type"], "urn:banyan:problem:upstream-reset");
    drop(gw);
    flood.join().expect("the upstream thread ends");
}
