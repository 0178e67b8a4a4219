//! `banyan run`: the runtime, listeners, admin, signals and config-file watching.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use banyan_proxy::admin::{self, AdminState};
use banyan_proxy::{Gateway, Reloader, Server};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::{LogFormat, RunArgs};
use crate::routes::read;

pub fn run(args: RunArgs) -> ExitCode {
    init_logging(args.log_format);
    let gateway = match read(&args.config).and_then(|src| Gateway::from_yaml(&src)) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{}: invalid configuration\n{e}", args.config.display());
            return ExitCode::from(1);
        }
    };
    let workers =
        args.workers
            .map(usize::from)
            .or(gateway.snapshot().config.runtime.worker_threads);
    let runtime = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(gateway, args.config, !args.no_watch)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("banyan: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        b.json().init();
    } else {
        b.init();
    }
}

async fn serve(gateway: Arc<Gateway>, path: PathBuf, watch: bool) -> anyhow::Result<()> {
    let admin_cfg = gateway.snapshot().config.admin.clone();
    let server = Server::start(gateway.clone()).await?;
    let reloader = Reloader::new(gateway.clone(), path.clone());
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    if admin_cfg.enabled {
        let listener = tokio::net::TcpListener::bind(&admin_cfg.address)
            .await
            .with_context(|| format!("the admin listener cannot bind {}", admin_cfg.address))?;
        tracing::info!(address = %listener.local_addr()?, "admin listening");
        let state = AdminState {
            gateway: gateway.clone(),
            reloader: reloader.clone(),
            draining: server.draining(),
        };
        tokio::spawn(admin::serve(listener, admin::router(state), async {
            let _ = admin_stopped.await;
        }));
    }
    for (l, addr) in gateway
        .snapshot()
        .config
        .listeners
        .iter()
        .zip(&server.addrs)
    {
        tracing::info!(listener = %l.name, address = %addr, "listening");
    }

    let (reload_tx, reload_rx) = mpsc::channel::<&'static str>(8);
    tokio::spawn(reload_loop(reloader, reload_rx));
    let mut hup = signal(SignalKind::hangup())?;
    let hup_tx = reload_tx.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let _ = hup_tx.send("SIGHUP").await;
        }
    });
    let _watcher = if watch {
        Some(watch_file(&path, reload_tx)?)
    } else {
        None
    };

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    // Read now, not at start: a reload may have changed it.
    let shutdown_timeout = gateway.snapshot().config.server.shutdown_timeout.get();
    tracing::info!(signal = which, deadline = ?shutdown_timeout, "draining");
    let clean = server.shutdown(shutdown_timeout).await;
    let _ = stop_admin.send(());
    if clean {
        tracing::info!("all connections finished; bye");
    } else {
        tracing::warn!("shutdown deadline passed with requests still in flight");
    }
    Ok(())
}

async fn reload_loop(reloader: Arc<Reloader>, mut rx: mpsc::Receiver<&'static str>) {
    while let Some(why) = rx.recv().await {
        // Editors write a file in several steps: let them finish, then reload once.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while rx.try_recv().is_ok() {}
        match reloader.reload().await {
            Ok(rev) => tracing::info!(trigger = why, revision = rev, "reloaded"),
            Err(errors) => {
                for e in errors.iter() {
                    tracing::error!(trigger = why, "config refused: {e}");
                }
                tracing::error!(
                    trigger = why,
                    "the new config has {} error(s); the running config keeps serving",
                    errors.len()
                );
            }
        }
    }
}

/// Watches the config file's directory (editors and `kubectl` replace files by rename, which a
/// watch on the file itself would lose) and asks for a reload when the file changes.
fn watch_file(
    path: &Path,
    tx: mpsc::Sender<&'static str>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let path = std::path::absolute(path)?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = path.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && (ev.kind.is_modify() || ev.kind.is_create())
            && ev.paths.iter().any(|p| {
                let n = p.file_name().map(|n| n.to_os_string());
                // Kubernetes updates a mounted ConfigMap by swapping a `..data` symlink: the
                // file's own name never shows up in those events.
                n == name || n.as_deref() == Some(std::ffi::OsStr::new("..data"))
            })
        {
            let _ = tx.try_send("file change");
        }
    })?;
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
