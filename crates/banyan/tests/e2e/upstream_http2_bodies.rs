//! Bodies through a service spoken to over HTTP/2 (`protocol: http2`) arrive intact, as they
//! do through HTTP/1.1 upstreams: large bodies are byte-identical both ways.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::harness::*;
use crate::integrity::{Slot, bulk_backend};
use crate::upstream_http2::h2_config;

const MIB: u64 = 1024 * 1024;

/// Every request the backend saw came over HTTP/2: the tests here would prove nothing about
/// the HTTP/2 hop if the gateway had spoken HTTP/1.1 to it.
fn assert_all_http2(backend: &Backend) {
    let seen = backend.seen.lock().expect("lock").clone();
    assert!(!seen.is_empty(), "the backend saw no request");
    for s in &seen {
        assert_eq!(
            s.version,
            Version::HTTP_2,
            "not spoken to over HTTP/2: {s:?}"
        );
    }
}

async fn big_bodies_cross_an_http2_upstream_byte_identical(client: Client<HttpConnector, Body>) {
    let slot: Slot = Arc::default();
    let backend = bulk_backend(slot.clone()).await;
    let gw = TestGateway::start(&h2_config(backend.addr)).await;
    let len = 64 * MIB;
    let bound = Duration::from_secs(120);

    let (body, sent) = Generated::new(len);
    let req = Request::post(gw.url("/up"))
        .body(body.boxed())
        .expect("request");
    let (parts, answer) = tokio::time::timeout(bound, send(&client, req))
        .await
        .expect("the upload finished in time");
    assert_eq!(parts.status, StatusCode::OK, "{answer:?}");
    let sent = sent.lock().expect("lock").clone().expect("upload digest");
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{len} {sent}"),
        "the upload changed on its way through the HTTP/2 upstream connection"
    );

    let req = Request::get(gw.url(&format!("/down/{len}")))
        .body(empty())
        .expect("request");
    let got = tokio::time::timeout(bound, async {
        let resp = client.request(req).await.expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        digest_of(resp.into_body()).await
    })
    .await
    .expect("the download finished in time")
    .expect("whole download");
    let made = slot.lock().expect("lock").clone().expect("download made");
    let made = made.lock().expect("lock").clone().expect("download digest");
    assert_eq!(
        got,
        (len, made),
        "the download changed on its way through the HTTP/2 upstream connection"
    );
    assert_all_http2(&backend);
}

/// A 64 MiB upload and a 64 MiB download between an HTTP/1.1 client and an HTTP/2 service
/// arrive byte for byte: nothing is lost, repeated or reordered across HTTP/2 flow control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_cross_an_http2_upstream_byte_identical_from_http1() {
    big_bodies_cross_an_http2_upstream_byte_identical(h1_client()).await;
}

/// The same from an HTTP/2 client: HTTP/2 on both hops, each with its own flow control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mebibytes_each_way_cross_an_http2_upstream_byte_identical_from_http2() {
    big_bodies_cross_an_http2_upstream_byte_identical(h2_client()).await;
}
