//! `--workers N` and `BANYAN_WORKERS` size the real binary's runtime: `1` serves from a single
//! thread, `N` from N worker threads, and the flag wins over the variable.

use std::time::Duration;

use http::{Request, StatusCode};

use crate::harness::*;

/// The threads of process `pid`: how many `/proc/PID/status` counts, and each one's name.
fn threads(pid: i32) -> (usize, Vec<String>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let count = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line");
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .flatten()
        .map(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    names.sort();
    (count, names)
}

/// Starts the binary with `args` and `env`, checks that it serves, and returns its threads.
async fn run_with(args: &[&str], env: &[(&str, &str)]) -> (usize, Vec<String>) {
    let backend = Backend::fixed("served").await;
    let public = free_port();
    let yaml = proxy_config(&[backend.addr], "").replace("127.0.0.1:0", &public.to_string());
    let config_path = scratch_dir().join("banyan.yaml");
    std::fs::write(&config_path, &yaml).expect("write config");
    let gw = BinaryGateway::start_at_with_env(config_path, public, args, env).await;
    let client = h1_client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (client, url) = (client.clone(), format!("http://{public}/x/{i}"));
        tasks.spawn(async move {
            let req = Request::get(url).body(empty()).expect("request");
            tokio::time::timeout(Duration::from_secs(10), send(&client, req)).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (parts, body) = done
            .expect("task")
            .unwrap_or_else(|_| panic!("{args:?} {env:?}: no answer in time"));
        assert_eq!(parts.status, StatusCode::OK, "{args:?} {env:?}: {body:?}");
        assert_eq!(&body[..], b"served", "{args:?} {env:?}");
    }
    threads(gw.pid())
}

/// The runtime's worker threads, by the name tokio gives them (`tokio-rt-worker`; older
/// versions' `tokio-runtime-worker` is cut by Linux to 15 bytes).
fn workers(names: &[String]) -> usize {
    names
        .iter()
        .filter(|n| *n == "tokio-rt-worker" || *n == "tokio-runtime-w")
        .count()
}

/// An operator who sizes the gateway with `--workers` or `BANYAN_WORKERS` gets that many
/// runtime threads and no more, and `--workers 1` a single-threaded gateway. Other threads (the
/// config watcher's) are the same in every run, so the runs' thread counts differ by exactly
/// the workers asked for. Values 2 and 3 cannot both be this machine's default (one per core).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_flag_and_variable_set_the_runtime_threads() {
    let (one, one_names) = run_with(&["--workers", "1"], &[]).await;
    let (two, two_names) = run_with(&[], &[("BANYAN_WORKERS", "2")]).await;
    let (three, three_names) = run_with(&[], &[("BANYAN_WORKERS", "3")]).await;
    let (flag, flag_names) = run_with(&["--workers", "1"], &[("BANYAN_WORKERS", "3")]).await;

    assert_eq!(
        workers(&one_names),
        0,
        "--workers 1: the runtime is not single-threaded: {one_names:?}"
    );
    assert_eq!(workers(&two_names), 2, "BANYAN_WORKERS=2: {two_names:?}");
    assert_eq!(
        workers(&three_names),
        3,
        "BANYAN_WORKERS=3: {three_names:?}"
    );
    assert_eq!(
        workers(&flag_names),
        0,
        "--workers 1 must win over BANYAN_WORKERS=3: {flag_names:?}"
    );
    // The process's own count agrees: a multi-threaded runtime's workers come beside the main
    // thread, which a single-threaded runtime runs on.
    assert_eq!(two, one + 2, "{one_names:?} vs {two_names:?}");
    assert_eq!(three, two + 1, "{two_names:?} vs {three_names:?}");
    assert_eq!(flag, one, "{one_names:?} vs {flag_names:?}");
}
