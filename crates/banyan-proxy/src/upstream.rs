//! Upstream services: endpoints, the choice of one (weighted round robin), and the pooled
//! HTTP clients that outlive config reloads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use banyan_model::UpstreamProtocol;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::LimitedBody;

pub type HttpClient = Client<HttpConnector, LimitedBody>;

/// What makes two services able to share one connection pool. Pools are keyed by endpoint
/// inside a client, so services with equal transport settings share connections to an
/// endpoint, and a reload that keeps the settings keeps the pool and its warm connections.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransportKey {
    pub protocol: UpstreamProtocol,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_idle: usize,
}

/// Clients by transport settings; lives as long as the gateway.
#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<TransportKey, HttpClient>>,
}

impl ClientRegistry {
    pub fn get(&self, key: &TransportKey) -> HttpClient {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone())
            .or_insert_with(|| build_client(key))
            .clone()
    }

    /// Forgets clients no service uses any more; their idle connections close with them.
    pub fn retain(&self, used: &[TransportKey]) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| used.contains(k));
    }
}

fn build_client(key: &TransportKey) -> HttpClient {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(key.connect_timeout));
    conn.enforce_http(true);
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_idle_timeout(key.idle_timeout)
        .pool_max_idle_per_host(key.max_idle)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        // The request path always sets Host itself (the endpoint's, precomputed, or the
        // client's), so the client need not format one per request.
        .set_host(false);
    if key.protocol == UpstreamProtocol::Http2 {
        b.http2_only(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .http2_keep_alive_timeout(Duration::from_secs(20));
    }
    b.build(conn)
}

/// One endpoint of a service.
#[derive(Debug)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// `http://host:port`, ready to have a path appended.
    pub origin: String,
    /// Prepended to every forwarded path; empty for none.
    pub base_path: String,
    /// The `Host` header sent when the route keeps the upstream's host.
    pub host: http::HeaderValue,
}

/// A service as the request path sees it.
pub struct Service {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    /// Endpoint indices in weighted, interleaved order; empty when no endpoint takes traffic.
    schedule: Vec<u16>,
    next: AtomicUsize,
    pub client: HttpClient,
    pub transport: TransportKey,
    pub request_timeout: Duration,
}

impl Service {
    pub fn new(
        name: String,
        endpoints: Vec<(Endpoint, u32)>,
        client: HttpClient,
        transport: TransportKey,
        request_timeout: Duration,
    ) -> Self {
        let schedule = weighted_schedule(&endpoints.iter().map(|(_, w)| *w).collect::<Vec<_>>());
        Self {
            name,
            endpoints: endpoints.into_iter().map(|(e, _)| e).collect(),
            schedule,
            next: AtomicUsize::new(0),
            client,
            transport,
            request_timeout,
        }
    }

    /// The next endpoint in weighted round-robin order, or `None` when there is none.
    pub fn pick(&self) -> Option<&Endpoint> {
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.endpoints
            .get(usize::from(self.schedule[n % self.schedule.len()]))
    }
}

/// Smooth weighted round robin (as nginx does) unrolled into one cycle, so that picking is one
/// atomic increment. Weights are scaled down to keep the cycle at most 1000 long.
fn weighted_schedule(weights: &[u32]) -> Vec<u16> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Vec::new();
    }
    let scale = total.div_ceil(1000).max(1);
    let w: Vec<i64> = weights
        .iter()
        .map(|&x| {
            if x == 0 {
                0
            } else {
                (u64::from(x) / scale).max(1) as i64
            }
        })
        .collect();
    let sum: i64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut out = Vec::with_capacity(sum as usize);
    for _ in 0..sum {
        let mut best = 0;
        for i in 0..w.len() {
            current[i] += w[i];
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= sum;
        out.push(best as u16);
    }
    out
}

/// Shared handle used by snapshots.
pub type ServiceRef = Arc<Service>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_respected_and_interleaved() {
        let s = weighted_schedule(&[2, 1]);
        assert_eq!(s, vec![0, 1, 0]);
        let s = weighted_schedule(&[5, 1, 1]);
        assert_eq!(s.iter().filter(|&&i| i == 0).count(), 5);
        // nginx's smooth order: a a b a c a a, not a a a a a b c.
        assert_eq!(s, vec![0, 0, 1, 0, 2, 0, 0]);
        assert!(weighted_schedule(&[0, 0]).is_empty());
        assert_eq!(weighted_schedule(&[0, 3]), vec![1, 1, 1]);
        assert!(weighted_schedule(&[u32::MAX, 1]).len() <= 1002);
    }
}
