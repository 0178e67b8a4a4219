//! Upstream services: endpoints, the choice of one (weighted round robin), and the registry
//! of connection pools that outlives config reloads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pool::Sweeper;
pub use crate::pool::{EndpointPool, TransportKey, UpstreamBody, UpstreamError};

/// Where an endpoint's connections live: its address and the transport settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub transport: TransportKey,
    pub authority: String,
}

/// Connection pools by endpoint and transport settings; lives as long as the gateway, so that
/// a reload that keeps an endpoint keeps its warm connections.
#[derive(Default)]
pub struct PoolRegistry {
    pools: Mutex<HashMap<PoolKey, Arc<EndpointPool>>>,
    sweeper: Arc<Sweeper>,
}

impl PoolRegistry {
    /// The pool for `key`, made on first use. Called when a snapshot is compiled, never per
    /// request.
    pub fn get(&self, key: &PoolKey) -> Arc<EndpointPool> {
        let mut map = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.clone())
            .or_insert_with(|| {
                let pool = Arc::new(EndpointPool::new(
                    key.authority.clone(),
                    key.transport.clone(),
                    Arc::downgrade(&self.sweeper),
                ));
                self.sweeper.register(&pool);
                pool
            })
            .clone()
    }

    /// Forgets pools no service uses any more; their idle connections close when the last
    /// snapshot using them is gone.
    pub fn retain(&self, used: &[PoolKey]) {
        let mut map = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| used.contains(k));
    }

    /// How many pools are kept, for tests.
    pub fn len(&self) -> usize {
        self.pools.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One endpoint of a service.
#[derive(Debug)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// Prepended to every forwarded path; empty for none.
    pub base_path: String,
    /// The `Host` header sent when the route keeps the upstream's host.
    pub host: http::HeaderValue,
    /// Connections to this endpoint.
    pub pool: Arc<EndpointPool>,
}

/// A service as the request path sees it.
pub struct Service {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    /// Endpoint indices in weighted, interleaved order; empty when no endpoint takes traffic.
    schedule: Vec<u16>,
    next: AtomicUsize,
    pub transport: TransportKey,
    pub request_timeout: Duration,
}

impl Service {
    pub fn new(
        name: String,
        endpoints: Vec<(Endpoint, u32)>,
        transport: TransportKey,
        request_timeout: Duration,
    ) -> Self {
        let schedule = weighted_schedule(&endpoints.iter().map(|(_, w)| *w).collect::<Vec<_>>());
        Self {
            name,
            endpoints: endpoints.into_iter().map(|(e, _)| e).collect(),
            schedule,
            next: AtomicUsize::new(0),
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

    fn key(authority: &str, idle_secs: u64) -> PoolKey {
        PoolKey {
            transport: TransportKey {
                protocol: banyan_model::UpstreamProtocol::Http1,
                connect_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(idle_secs),
                max_idle: 8,
            },
            authority: authority.to_string(),
        }
    }

    #[test]
    fn pools_are_kept_for_the_same_endpoint_and_settings_and_dropped_otherwise() {
        let r = PoolRegistry::default();
        let a = r.get(&key("10.0.0.1:80", 90));
        let b = r.get(&key("10.0.0.2:80", 90));
        assert!(
            Arc::ptr_eq(&a, &r.get(&key("10.0.0.1:80", 90))),
            "same key, same pool"
        );
        let other = r.get(&key("10.0.0.1:80", 30));
        assert!(!Arc::ptr_eq(&a, &other), "other settings, other pool");
        assert_eq!(r.len(), 3);
        r.retain(&[key("10.0.0.1:80", 90)]);
        assert_eq!(r.len(), 1);
        assert!(
            Arc::ptr_eq(&a, &r.get(&key("10.0.0.1:80", 90))),
            "kept across the retain"
        );
        assert!(
            !Arc::ptr_eq(&b, &r.get(&key("10.0.0.2:80", 90))),
            "dropped, made anew"
        );
    }

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
