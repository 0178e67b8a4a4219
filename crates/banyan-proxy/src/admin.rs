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
    let mut config = serde_json::to_value(&*snap.config).unwrap_or_default();
    redact(&mut config);
    Json(json!({"revision": snap.revision, "config": config})).into_response()
}

/// Shown instead of a value that may be a credential.
const REDACTED: &str = "<redacted>";

/// Hides what in a config may be a secret. The config has no secret fields yet (those will be
/// types that serialise redacted), but a route may match on a credential: a header or query
/// matcher whose name looks like one shows `<redacted>` for its `exact` and `regex` values.
fn redact(config: &mut serde_json::Value) {
    let Some(routes) = config.get_mut("routes").and_then(|r| r.as_array_mut()) else {
        return;
    };
    for route in routes {
        for list in ["/match/headers", "/match/query"] {
            let Some(matchers) = route.pointer_mut(list).and_then(|m| m.as_array_mut()) else {
                continue;
            };
            for m in matchers {
                if !m["name"].as_str().is_some_and(names_a_credential) {
                    continue;
                }
                for field in ["exact", "regex"] {
                    if let Some(v) = m.get_mut(field).filter(|v| !v.is_null()) {
                        *v = REDACTED.into();
                    }
                }
            }
        }
    }
}

/// Header and query names whose values are credentials more often than not: any name holding
/// one of these words, in any case (`Authorization`, `Cookie`, `X-API-Key`, `access_token`,
/// `X-Session-Id`). A harmless value caught by them is only hidden from this dump.
fn names_a_credential(name: &str) -> bool {
    const WORDS: [&str; 9] = [
        "auth",
        "token",
        "secret",
        "password",
        "passwd",
        "cookie",
        "session",
        "signature",
        "key",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_values_on_credential_names_are_redacted() {
        let mut c = json!({"routes": [{"match": {
            "headers": [
                {"name": "Authorization", "exact": "Bearer s3cret", "regex": null, "present": null},
                {"name": "x-api_key", "exact": null, "regex": "k-[0-9]+", "present": null},
                {"name": "x-region", "exact": "eu", "regex": null, "present": null},
                {"name": "cookie", "exact": null, "regex": null, "present": true},
            ],
            "query": [{"name": "access_token", "exact": "t0k3n", "regex": null, "present": null}],
        }}]});
        redact(&mut c);
        let m = &c["routes"][0]["match"];
        assert_eq!(m["headers"][0]["exact"], REDACTED);
        assert_eq!(m["headers"][1]["regex"], REDACTED);
        assert_eq!(
            m["headers"][1]["exact"],
            serde_json::Value::Null,
            "unset stays null"
        );
        assert_eq!(m["headers"][2]["exact"], "eu", "not a credential");
        assert_eq!(m["headers"][3]["present"], true, "present says no secret");
        assert_eq!(m["query"][0]["exact"], REDACTED);
    }
}
