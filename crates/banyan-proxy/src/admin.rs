//! The admin listener (loopback by default): health, readiness, the running config, reload.
//! Never reachable through a data-plane listener: validation refuses a shared address.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use banyan_model::Diagnostics;
use serde_json::json;

use crate::proxy::Gateway;
use crate::reload::Reloader;

#[derive(Clone)]
pub struct AdminState {
    pub gateway: Arc<Gateway>,
    pub reloader: Arc<Reloader>,
    pub draining: Arc<AtomicBool>,
}

/// The admin API. Later subsystems (metrics, control plane) merge their routes into it.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/config", get(config))
        .route("/admin/reload", post(reload))
        .with_state(state)
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if s.draining.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        )
            .into_response()
    } else {
        Json(json!({"status": "ready", "revision": s.gateway.snapshot().revision})).into_response()
    }
}

async fn config(State(s): State<AdminState>) -> Response {
    let snap = s.gateway.snapshot();
    // The config holds no secret values yet; secret fields will be types that serialise
    // redacted, so this endpoint stays safe as they arrive.
    Json(json!({"revision": snap.revision, "config": &*snap.config})).into_response()
}

async fn reload(State(s): State<AdminState>) -> Response {
    match s.reloader.reload().await {
        Ok(revision) => Json(json!({"status": "reloaded", "revision": revision})).into_response(),
        Err(errors) => invalid_config(&errors),
    }
}

/// A refused config as problem+json, each error with its position.
pub fn invalid_config(errors: &Diagnostics) -> Response {
    let list: Vec<_> = errors
        .iter()
        .map(|d| {
            json!({
                "path": d.position.path,
                "line": d.position.line,
                "column": d.position.column,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    let body = json!({
        "type": "urn:banyan:problem:invalid-config",
        "title": "Invalid configuration",
        "status": 400,
        "detail": format!("the new configuration has {} error(s); the running configuration keeps serving", errors.len()),
        "errors": list,
    });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// Serves the admin router on an already bound listener until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
}
