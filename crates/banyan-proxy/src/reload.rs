//! Reloading: read, parse and compile a new config off the request path, then swap it in
//! whole. One writer at a time; a config that fails anywhere leaves the running one in place.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use banyan_model::{Diagnostic, Diagnostics};
use tokio::sync::Mutex;

use crate::proxy::Gateway;
use crate::snapshot::Snapshot;

/// Where configs come from and how a new one replaces the running one.
pub struct Reloader {
    gateway: Arc<Gateway>,
    path: PathBuf,
    /// Serialises reloads: SIGHUP, the file watcher and the admin API may fire together.
    writer: Mutex<()>,
    revision: AtomicU64,
}

impl Reloader {
    pub fn new(gateway: Arc<Gateway>, path: PathBuf) -> Arc<Self> {
        let revision = AtomicU64::new(gateway.snapshot().revision);
        Arc::new(Self {
            gateway,
            path,
            writer: Mutex::new(()),
            revision,
        })
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }

    /// Loads the file again. Returns the new revision, or every error found; on error the
    /// running config keeps serving.
    pub async fn reload(&self) -> Result<u64, Diagnostics> {
        let _writer = self.writer.lock().await;
        let src = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            Diagnostics::from(Diagnostic::new(
                "",
                format!("cannot read {}: {e}", self.path.display()),
            ))
        })?;
        let revision = self.revision.load(Ordering::SeqCst) + 1;
        let gateway = self.gateway.clone();
        let snap = tokio::task::spawn_blocking(move || {
            Snapshot::from_yaml(&src, &gateway.pools, revision)
        })
        .await
        .map_err(|e| {
            Diagnostics::from(Diagnostic::new(
                "",
                format!("config compilation failed: {e}"),
            ))
        })??;
        let running = self.gateway.snapshot();
        restart_only_changes(&running, &snap)?;
        let used = snap.pool_keys();
        self.gateway.swap(snap);
        self.gateway.pools.retain(&used);
        self.revision.store(revision, Ordering::SeqCst);
        tracing::info!(revision, "configuration reloaded");
        Ok(revision)
    }
}

/// Listeners, the admin address and the runtime are bound at start; a reload that changes
/// them is refused rather than half applied.
fn restart_only_changes(old: &Snapshot, new: &Snapshot) -> Result<(), Diagnostics> {
    let (o, n) = (&old.config, &new.config);
    let mut errors = Diagnostics::default();
    let hint = "restart the gateway to change this; the running config keeps serving";
    if o.listeners != n.listeners {
        errors.push(
            Diagnostic::new(
                "listeners",
                "listeners changed, which a reload cannot apply",
            )
            .hint(hint),
        );
    }
    if o.admin != n.admin {
        errors.push(
            Diagnostic::new(
                "admin",
                "the admin listener changed, which a reload cannot apply",
            )
            .hint(hint),
        );
    }
    if o.runtime != n.runtime {
        errors.push(
            Diagnostic::new(
                "runtime",
                "runtime settings changed, which a reload cannot apply",
            )
            .hint(hint),
        );
    }
    let (os, ns) = (&o.server, &n.server);
    // These shape the HTTP server itself, built once at start. The gateway's own checks of
    // max_header_bytes and max_headers follow the reload; hyper's caps above them do not.
    if os.header_read_timeout != ns.header_read_timeout
        || os.idle_timeout != ns.idle_timeout
        || os.max_header_bytes != ns.max_header_bytes
        || os.max_headers != ns.max_headers
    {
        tracing::warn!(
            "server.header_read_timeout, idle_timeout, and the HTTP layer's caps derived from max_header_bytes and max_headers apply after a restart"
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
