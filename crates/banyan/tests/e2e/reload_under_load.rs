//! Hot reload: a new config takes over without a single failed request, requests already in
//! flight finish on the config they started with, a bad config is refused whole with every
//! error while the old one keeps serving, and the binary reloads on a file change and SIGHUP.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

use crate::harness::*;

/// One listener; `/fixed` answered by the gateway with `fixed`; `/svc/...` sent to `target`
/// (a `service: NAME` or `respond: ...` line); a service per `(name, backend)`.
fn config(listen: &str, fixed: &str, target: &str, services: &[(&str, SocketAddr)]) -> String {
    let services: String = services
        .iter()
        .map(|(name, addr)| {
            format!("  - name: {name}\n    endpoints: [{{ url: \"http://{addr}\" }}]\n")
        })
        .collect();
    let services = if services.is_empty() {
        " []\n".to_string()
    } else {
        format!("\n{services}")
    };
    format!(
        r#"listeners:
  - {{ name: public, address: "{listen}" }}
admin: {{ enabled: false }}
services:{services}routes:
  - name: fixed
    match: {{ path: /fixed }}
    respond: {{ body: "{fixed}" }}
  - name: svc
    match: {{ path: "/svc/{{*rest}}" }}
    {target}
"#
    )
}

const RELOADS: usize = 20;
/// Per client: requests until the last reload is in, then this many more. The cap only
/// bounds a broken run; the load must outlast the reloads however fast the gateway is.
const MAX_REQUESTS: usize = 50_000;
const AFTER_LAST_RELOAD: usize = 5;

#[derive(Default)]
struct Tally {
    ok: usize,
    failures: Vec<String>,
    fixed_seen: BTreeSet<String>,
    svc_seen: BTreeSet<String>,
    /// Answers to requests sent after the last reload returned.
    after: BTreeSet<String>,
}

async fn load(
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Body,
    >,
    base: String,
    version: http::Version,
    done: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut after = None;
    for i in 0..MAX_REQUESTS {
        if after.is_none() && done.load(Ordering::SeqCst) {
            after = Some(i);
        }
        if after.is_some_and(|a| i >= a + AFTER_LAST_RELOAD) {
            break;
        }
        let path = if i.is_multiple_of(2) {
            "/fixed"
        } else {
            "/svc/item"
        };
        let req = Request::get(format!("{base}{path}"))
            .version(version)
            .body(empty())
            .expect("request");
        let outcome = match client.request(req).await {
            Ok(resp) => {
                let status = resp.status();
                match resp.into_body().collect().await {
                    Ok(b) if status == StatusCode::OK => {
                        Ok(String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    }
                    Ok(b) => Err(format!("{path}: {status} {:?}", b.to_bytes())),
                    Err(e) => Err(format!("{path}: body: {e}")),
                }
            }
            Err(e) => Err(format!("{path}: {e:?}")),
        };
        let mut t = tally.lock().expect("lock");
        match outcome {
            Ok(body) => {
                t.ok += 1;
                if after.is_some() {
                    t.after.insert(body.clone());
                }
                if path == "/fixed" {
                    t.fixed_seen.insert(body);
                } else {
                    t.svc_seen.insert(body);
                }
            }
            Err(e) => t.failures.push(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_the_config_is_reloaded_under_load() {
    let a = Backend::fixed("from-a").await;
    let b = Backend::fixed("from-b").await;
    let services = [("a", a.addr), ("b", b.addr)];
    let variant = move |k: usize| {
        let target = if k.is_multiple_of(2) {
            "service: a"
        } else {
            "service: b"
        };
        config("127.0.0.1:0", &format!("v{k}"), target, &services)
    };
    let gw = Arc::new(TestGateway::start(&variant(0)).await);
    let done = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut clients = Vec::new();
    // Each HTTP/1.1 client keeps its own pool of keep-alive connections; each HTTP/2 client
    // multiplexes on one connection.
    for _ in 0..8 {
        clients.push((h1_client(), http::Version::HTTP_11));
    }
    for _ in 0..4 {
        clients.push((h2_client(), http::Version::HTTP_2));
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(client, version)| {
            tokio::spawn(load(
                client,
                gw.url(""),
                version,
                done.clone(),
                tally.clone(),
            ))
        })
        .collect();
    // The first config must be seen answering before it is replaced.
    for _ in 0..500 {
        if tally.lock().expect("lock").fixed_seen.contains("v0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reloader = {
        let gw = gw.clone();
        let done = done.clone();
        tokio::spawn(async move {
            for k in 1..=RELOADS {
                let rev = gw.reload(&variant(k)).await.expect("valid config reloads");
                assert_eq!(rev, 1 + k as u64);
                // Spread the reloads over the load, which runs until the last one is in.
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    tokio::time::timeout(Duration::from_secs(90), async {
        reloader.await.expect("reloads");
        for t in tasks {
            t.await.expect("client task");
        }
    })
    .await
    .expect("the load finishes");

    let t = tally.lock().expect("lock");
    assert!(
        t.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        t.failures.len(),
        t.failures.len() + t.ok,
        &t.failures[..t.failures.len().min(10)]
    );
    let allowed: BTreeSet<String> = (0..=RELOADS).map(|k| format!("v{k}")).collect();
    assert!(t.fixed_seen.is_subset(&allowed), "{:?}", t.fixed_seen);
    let last = format!("v{RELOADS}");
    assert!(
        t.fixed_seen.contains("v0") && t.fixed_seen.contains(&last),
        "answers from before and after the reloads: {:?}",
        t.fixed_seen
    );
    assert_eq!(
        t.svc_seen,
        BTreeSet::from(["from-a".to_string(), "from-b".to_string()])
    );
    // The last config routes /svc to `a`: once its reload returned, nothing older answers.
    assert_eq!(
        t.after,
        BTreeSet::from([last, "from-a".to_string()]),
        "answers after the last reload"
    );
}

#[tokio::test]
async fn a_streaming_response_started_before_a_reload_completes_after_it() {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let streamer = Backend::start(move |_req| {
        let released = released.lock().expect("lock").take();
        async move {
            let (tx, body) = channel_body();
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"old stream, ")).await;
                if let Some(rx) = released {
                    let _ = rx.await;
                }
                let _ = tx.send(Bytes::from_static(b"still old")).await;
            });
            Response::new(body)
        }
    })
    .await;
    let other = Backend::fixed("new").await;
    let services = [("streamer", streamer.addr), ("other", other.addr)];
    let gw = TestGateway::start(&config("127.0.0.1:0", "v0", "service: streamer", &services)).await;

    let resp = h1_client()
        .request(
            Request::get(gw.url("/svc/stream"))
                .body(empty())
                .expect("req"),
        )
        .await
        .expect("response head");
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("first chunk")
        .expect("frame")
        .expect("frame ok")
        .into_data()
        .expect("data");
    assert_eq!(&first[..], b"old stream, ");

    gw.reload(&config("127.0.0.1:0", "v1", "service: other", &services))
        .await
        .expect("reload");
    let (_, now) = get(&gw.url("/svc/stream")).await;
    assert_eq!(&now[..], b"new", "new requests take the new route");

    release.send(()).expect("streamer waiting");
    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("the old stream ends")
        .expect("body")
        .to_bytes();
    assert_eq!(&rest[..], b"still old");
}

#[tokio::test]
async fn a_request_in_flight_during_a_reload_is_answered_by_its_old_route() {
    let gate = Gate::new();
    let old = Backend::held(gate.clone(), "old route").await;
    let services = [("old", old.addr)];
    let gw = TestGateway::start(&config("127.0.0.1:0", "v0", "service: old", &services)).await;
    let url = gw.url("/svc/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    old.wait_hits(1).await;

    // The route now answers by itself, without the old service.
    gw.reload(&config(
        "127.0.0.1:0",
        "v1",
        "respond: { body: \"new route\" }",
        &services,
    ))
    .await
    .expect("reload");
    let (_, now) = get(&gw.url("/svc/slow")).await;
    assert_eq!(&now[..], b"new route");

    gate.open();
    let (parts, body) = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the in-flight request finishes")
        .expect("task");
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"old route");
    assert_eq!(old.hits(), 1);
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_every_error_and_the_old_one_keeps_serving() {
    let backend = Backend::fixed("from-a").await;
    let services = [("a", backend.addr)];
    let gw = TestGateway::start(&config("127.0.0.1:0", "v0", "service: a", &services)).await;
    let bad = r#"listeners:
  - { name: public, address: "127.0.0.1:0" }
admin: { enabled: false }
server: { idle_timout: 5s }
services:
  - name: a
    endpoints: [{ url: "http://127.0.0.1:1" }]
routes:
  - name: fixed
    match: { path: /fixed }
    service: nowhere
  - name: slow
    match: { path: /slow }
    service: a
    timeout: 5 parsecs
  - name: one
    match: { path: "/users/{id}" }
    service: a
  - name: two
    match: { path: "/users/{name}" }
    service: a
"#;
    let errors = gw.reload(bad).await.expect_err("refused");
    let found: Vec<(String, u32)> = errors
        .iter()
        .map(|d| (d.position.path.clone(), d.position.line))
        .collect();
    for (path, line) in [
        ("server.idle_timout", 4),
        ("routes[0].service", 11),
        ("routes[1].timeout", 15),
        ("routes[3].match", 20),
    ] {
        assert!(
            found.contains(&(path.to_string(), line)),
            "{path} (line {line}) missing from:\n{errors}"
        );
    }
    assert_eq!(errors.len(), 4, "exactly these errors:\n{errors}");

    let (parts, body) = get(&gw.url("/fixed")).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"v0", "the old config keeps serving");
    let (_, body) = get(&gw.url("/svc/x")).await;
    assert_eq!(&body[..], b"from-a");
    assert_eq!(gw.gateway.snapshot().revision, 1);

    let rev = gw
        .reload(&config("127.0.0.1:0", "v1", "service: a", &services))
        .await
        .expect("a fixed config reloads");
    assert_eq!(rev, 2);
    let (_, body) = get(&gw.url("/fixed")).await;
    assert_eq!(&body[..], b"v1");
}

#[tokio::test]
async fn the_binary_reloads_when_its_config_file_changes() {
    let public = free_port();
    let listen = public.to_string();
    let gw = BinaryGateway::start(
        &config(&listen, "one", "respond: { body: svc }", &[]),
        public,
    )
    .await;
    let url = format!("http://{public}/fixed");
    assert_eq!(poll_body(&url, "one").await, "one");

    // Written in place…
    std::fs::write(
        &gw.config_path,
        config(&listen, "two", "respond: { body: svc }", &[]),
    )
    .expect("write");
    assert_eq!(poll_body(&url, "two").await, "two");
    // …and replaced by rename, as editors and config-map updates do.
    gw.replace_config(&config(&listen, "three", "respond: { body: svc }", &[]));
    assert_eq!(poll_body(&url, "three").await, "three");
}

/// A Kubernetes ConfigMap volume updates its files by swapping the `..data` symlink they point
/// through, so the config file's own name never appears in the directory's events. The binary
/// reloads all the same.
#[tokio::test]
async fn the_binary_reloads_when_a_config_map_swaps_its_data_link() {
    use std::os::unix::fs::symlink;
    let public = free_port();
    let listen = public.to_string();
    let dir = scratch_dir();
    // The layout the kubelet makes: banyan.yaml -> ..data/banyan.yaml, ..data -> ..<stamp>.
    let version = |stamp: &str, body: &str| {
        let d = dir.join(stamp);
        std::fs::create_dir(&d).expect("version directory");
        std::fs::write(
            d.join("banyan.yaml"),
            config(&listen, body, "respond: { body: svc }", &[]),
        )
        .expect("write config");
    };
    version("..2026_11_29_one", "one");
    symlink("..2026_11_29_one", dir.join("..data")).expect("link ..data");
    symlink("..data/banyan.yaml", dir.join("banyan.yaml")).expect("link the file");
    let _gw = BinaryGateway::start_at(dir.join("banyan.yaml"), public, &[]).await;
    let url = format!("http://{public}/fixed");
    assert_eq!(poll_body(&url, "one").await, "one");

    // An update: a new stamped directory, and a new link renamed over `..data`.
    version("..2026_11_29_two", "two");
    symlink("..2026_11_29_two", dir.join("..data_tmp")).expect("link ..data_tmp");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    assert_eq!(poll_body(&url, "two").await, "two");
}

#[tokio::test]
async fn sighup_reloads_the_binary() {
    let public = free_port();
    let listen = public.to_string();
    let yaml = |v: &str| config(&listen, v, "respond: { body: svc }", &[]);
    let mut gw = BinaryGateway::start_with(&yaml("one"), public, &["--no-watch"]).await;
    let url = format!("http://{public}/fixed");
    assert_eq!(poll_body(&url, "one").await, "one");
    std::fs::write(&gw.config_path, yaml("two")).expect("write");
    gw.signal("HUP");
    assert_eq!(poll_body(&url, "two").await, "two");
    // Still the same process: SIGHUP reloads, it does not restart or stop the gateway.
    assert_eq!(gw.wait_exit(Duration::from_millis(100)).await, None);
}

/// Sends `GET path` on an open HTTP/1.1 connection and reads its one response.
async fn get_on(s: &mut tokio::net::TcpStream, path: &str) -> crate::wire::RawResponse {
    use tokio::io::AsyncWriteExt;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let bytes = crate::wire::read_response(s, Duration::from_secs(10)).await;
    let mut got = crate::wire::responses(&bytes);
    assert_eq!(
        got.len(),
        1,
        "one response to {path}: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    got.remove(0)
}

/// Sends `GET path` on an open HTTP/2 connection, as a new stream: status and body.
async fn get_on_h2(client: &mut h2::client::SendRequest<Bytes>, path: &str) -> (u16, Bytes) {
    let req = Request::get(format!("http://t{path}"))
        .body(())
        .expect("request");
    crate::wire::h2_send(client, req, None).await
}

/// A client's keep-alive connection outlives a reload: its next request, on the same socket,
/// is served by the new config, over HTTP/1.1 and HTTP/2 alike.
#[tokio::test]
async fn a_keep_alive_connection_survives_a_reload_and_is_served_by_the_new_config() {
    let yaml = |v: &str| config("127.0.0.1:0", v, "respond: { body: svc }", &[]);
    let gw = TestGateway::start(&yaml("v0")).await;
    let mut h1 = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("connect");
    let tcp = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("connect");
    let (mut h2, conn) = h2::client::handshake(tcp).await.expect("handshake");
    let conn = tokio::spawn(conn);

    let first = get_on(&mut h1, "/fixed").await;
    assert_eq!((first.status, &first.body[..]), (200, &b"v0"[..]));
    assert_ne!(
        first.header("connection"),
        Some("close"),
        "the connection is kept alive"
    );
    assert_eq!(get_on_h2(&mut h2, "/fixed").await, (200, Bytes::from("v0")));

    assert_eq!(gw.reload(&yaml("v1")).await.expect("reload"), 2);

    let second = get_on(&mut h1, "/fixed").await;
    assert_eq!(
        (second.status, &second.body[..]),
        (200, &b"v1"[..]),
        "the same HTTP/1.1 connection, served by the new config"
    );
    assert_eq!(
        get_on_h2(&mut h2, "/fixed").await,
        (200, Bytes::from("v1")),
        "the same HTTP/2 connection, served by the new config"
    );
    assert!(!conn.is_finished(), "the HTTP/2 connection is still open");
    conn.abort();
}

/// Listeners, the admin listener and the runtime are set up at start: a reload that changes
/// any of them is refused whole, with a hint to restart, even the parts it could have applied;
/// the running config keeps serving, also on connections opened before.
#[tokio::test]
async fn a_reload_that_changes_listeners_admin_or_runtime_is_refused_and_the_old_config_serves() {
    let base = config("127.0.0.1:0", "v0", "respond: { body: svc }", &[]);
    let gw = TestGateway::start(&base).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr())
        .await
        .expect("connect");
    assert_eq!(&get_on(&mut s, "/fixed").await.body[..], b"v0");

    let listener = "  - { name: public, address: \"127.0.0.1:0\" }\n";
    let admin = "admin: { enabled: false }\n";
    assert!(base.contains(listener) && base.contains(admin), "{base}");
    let changes = [
        (
            "a listener renamed",
            listener,
            "  - { name: front, address: \"127.0.0.1:0\" }\n",
            "listeners",
        ),
        (
            "a listener's address changed",
            listener,
            "  - { name: public, address: \"127.0.0.1:1\" }\n",
            "listeners",
        ),
        (
            "a listener added",
            listener,
            "  - { name: public, address: \"127.0.0.1:0\" }\n  - { name: internal, address: \"127.0.0.1:1\" }\n",
            "listeners",
        ),
        (
            "the admin listener enabled",
            admin,
            "admin: { enabled: true, address: \"127.0.0.1:1\" }\n",
            "admin",
        ),
        (
            "the admin address changed",
            admin,
            "admin: { enabled: false, address: \"127.0.0.1:1\" }\n",
            "admin",
        ),
        (
            "worker threads set",
            admin,
            "admin: { enabled: false }\nruntime: { worker_threads: 2 }\n",
            "runtime",
        ),
    ];
    for (what, from, to, path) in changes {
        // The route change alone would be applied; with the restart-only change it must not be.
        let changed = base
            .replace(from, to)
            .replace("body: \"v0\"", "body: \"changed\"");
        assert!(
            changed.contains("changed") && changed.contains(to),
            "{changed}"
        );
        let errors = gw.reload(&changed).await.expect_err(what);
        assert_eq!(errors.len(), 1, "{what}: exactly one error:\n{errors}");
        let e = &errors.0[0];
        assert_eq!(e.position.path, path, "{what}: {errors}");
        assert_eq!(
            e.hint.as_deref(),
            Some("restart the gateway to change this; the running config keeps serving"),
            "{what}: {errors}"
        );
        assert_eq!(gw.gateway.snapshot().revision, 1, "{what}");
        let r = get_on(&mut s, "/fixed").await;
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"v0"[..]),
            "{what}: the old config keeps serving the open connection"
        );
        let (parts, body) = get(&gw.url("/fixed")).await;
        assert_eq!(
            (parts.status, &body[..]),
            (StatusCode::OK, &b"v0"[..]),
            "{what}: and new connections"
        );
    }

    // The same route change, without the rest, is applied.
    let rev = gw
        .reload(&base.replace("body: \"v0\"", "body: \"changed\""))
        .await
        .expect("a route change reloads");
    assert_eq!(rev, 2);
    assert_eq!(&get_on(&mut s, "/fixed").await.body[..], b"changed");
}
