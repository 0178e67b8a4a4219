//! The configuration as the operator writes it (layer a): plain serde data, unknown fields
//! refused, every field documented in `docs/configuration.md`.

use serde::{Deserialize, Serialize};

use crate::node::{lenient_field, lenient_or_default, lenient_vec};
use crate::units::{ByteSize, Duration};

/// A whole gateway configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where clients connect. Each listener serves HTTP/1.1 and HTTP/2 cleartext on one port.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub listeners: Vec<ListenerConfig>,
    /// The admin listener: health, readiness, running config, reload.
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub admin: AdminConfig,
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub runtime: RuntimeConfig,
    /// Limits and timeouts that apply to every client connection.
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub server: ServerConfig,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub services: Vec<ServiceConfig>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub routes: Vec<RouteConfig>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    #[serde(deserialize_with = "lenient_field")]
    pub name: String,
    /// `ip:port`, e.g. `0.0.0.0:8080` or `[::]:8080`.
    #[serde(deserialize_with = "lenient_field")]
    pub address: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `ip:port`; loopback by default. Set `enabled: false` to serve no admin listener.
    #[serde(
        default = "AdminConfig::default_address",
        deserialize_with = "lenient_field"
    )]
    pub address: String,
    #[serde(default = "yes", deserialize_with = "lenient_field")]
    pub enabled: bool,
}

impl AdminConfig {
    fn default_address() -> String {
        "127.0.0.1:9901".into()
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            address: Self::default_address(),
            enabled: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads of the async runtime. Unset: one per core. `1`: a single-threaded runtime.
    #[serde(default, deserialize_with = "lenient_field")]
    pub worker_threads: Option<usize>,
}

/// Client-side limits and timeouts. Each default is written in `docs/configuration.md`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// A client must send a whole request head within this time (HTTP/1.1). The same clock runs
    /// while a keep-alive connection waits for its next request.
    #[serde(deserialize_with = "lenient_field")]
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed.
    #[serde(deserialize_with = "lenient_field")]
    pub idle_timeout: Duration,
    /// Default time to wait for an upstream's response head, when neither the route nor the
    /// service says.
    #[serde(deserialize_with = "lenient_field")]
    pub request_timeout: Duration,
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish.
    #[serde(deserialize_with = "lenient_field")]
    pub shutdown_timeout: Duration,
    /// The largest request head (request line and headers) accepted.
    #[serde(deserialize_with = "lenient_field")]
    pub max_header_bytes: ByteSize,
    /// The most header fields in one request.
    #[serde(deserialize_with = "lenient_field")]
    pub max_headers: usize,
    /// The longest request target (path and query).
    #[serde(deserialize_with = "lenient_field")]
    pub max_uri_bytes: ByteSize,
    /// The largest request body, unless a route says otherwise.
    #[serde(deserialize_with = "lenient_field")]
    pub max_body_bytes: ByteSize,
    /// Peers whose `X-Forwarded-*` and `Forwarded` headers are believed (CIDR or address).
    #[serde(deserialize_with = "lenient_field")]
    pub trusted_proxies: Vec<String>,
    /// Client-sent headers starting with this prefix are always removed: the gateway alone
    /// speaks in this namespace.
    #[serde(deserialize_with = "lenient_field")]
    pub identity_header_prefix: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::secs(10),
            idle_timeout: Duration::secs(60),
            request_timeout: Duration::secs(30),
            shutdown_timeout: Duration::secs(30),
            max_header_bytes: ByteSize::kib(32),
            max_headers: 100,
            max_uri_bytes: ByteSize::kib(8),
            max_body_bytes: ByteSize::mib(100),
            trusted_proxies: Vec::new(),
            identity_header_prefix: "x-banyan-".into(),
        }
    }
}

/// An upstream service: a named set of endpoints.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(deserialize_with = "lenient_field")]
    pub name: String,
    /// May be empty: requests then get 503 until endpoints appear.
    #[serde(default, deserialize_with = "lenient_field")]
    pub endpoints: Vec<EndpointConfig>,
    /// The protocol spoken to the endpoints.
    #[serde(default, deserialize_with = "lenient_field")]
    pub protocol: UpstreamProtocol,
    #[serde(default, deserialize_with = "lenient_field")]
    pub timeouts: ServiceTimeouts,
    /// Idle keep-alive connections kept per endpoint.
    #[serde(
        default = "ServiceConfig::default_max_idle",
        deserialize_with = "lenient_field"
    )]
    pub max_idle_per_endpoint: usize,
}

impl ServiceConfig {
    fn default_max_idle() -> usize {
        256
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `http://host:port`, optionally with a base path (`http://10.0.0.5:8080/base`).
    #[serde(deserialize_with = "lenient_field")]
    pub url: String,
    /// Relative share of requests (weighted round robin). Default 1; 0 takes no traffic.
    #[serde(default = "one", deserialize_with = "lenient_field")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive.
    #[default]
    Http1,
    /// HTTP/2 over cleartext (prior knowledge).
    Http2,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTimeouts {
    /// TCP connect to one endpoint. Default 1s.
    #[serde(default, deserialize_with = "lenient_field")]
    pub connect: Option<Duration>,
    /// Wait for the response head. Default: `server.request_timeout`.
    #[serde(default, deserialize_with = "lenient_field")]
    pub request: Option<Duration>,
    /// Idle pooled connections are closed after this long. Default 90s.
    #[serde(default, deserialize_with = "lenient_field")]
    pub idle: Option<Duration>,
}

/// A route: which requests (`match`) go where (`service` or `respond`), and how.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(deserialize_with = "lenient_field")]
    pub name: String,
    #[serde(rename = "match", deserialize_with = "lenient_field")]
    pub matches: MatchConfig,
    /// The service that serves this route. Exactly one of `service` and `respond`.
    #[serde(default, deserialize_with = "lenient_field")]
    pub service: Option<String>,
    /// A response the gateway sends itself, without any upstream.
    #[serde(default, deserialize_with = "lenient_field")]
    pub respond: Option<RespondConfig>,
    /// Listener names this route is served on. Default: every listener.
    #[serde(default, deserialize_with = "lenient_field")]
    pub listeners: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_field")]
    pub rewrite: Option<RewriteConfig>,
    /// Time to wait for the response head; overrides the service's `timeouts.request`.
    #[serde(default, deserialize_with = "lenient_field")]
    pub timeout: Option<Duration>,
    /// Overrides `server.max_body_bytes` for this route.
    #[serde(default, deserialize_with = "lenient_field")]
    pub max_body_bytes: Option<ByteSize>,
    /// Lowers `server.max_header_bytes` for this route (it cannot raise it: the head is read
    /// before the route is known).
    #[serde(default, deserialize_with = "lenient_field")]
    pub max_header_bytes: Option<ByteSize>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// `api.example.com`, `*.example.com` (exactly one more label), or absent for any host.
    #[serde(default, deserialize_with = "lenient_field")]
    pub host: Option<String>,
    /// Absent: any method.
    #[serde(default, deserialize_with = "lenient_field")]
    pub methods: Option<Vec<String>>,
    /// `/literal/{param}/{*rest}`.
    #[serde(deserialize_with = "lenient_field")]
    pub path: String,
    #[serde(default, deserialize_with = "lenient_field")]
    pub headers: Vec<ValueMatch>,
    #[serde(default, deserialize_with = "lenient_field")]
    pub query: Vec<ValueMatch>,
}

/// Matches one header or query parameter by name: exactly one of `exact`, `regex`, `present`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatch {
    #[serde(deserialize_with = "lenient_field")]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub exact: Option<String>,
    /// Matched against the whole value (anchored).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub regex: Option<String>,
    /// `true`: must be present (any value); `false`: must be absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_field"
    )]
    pub present: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// A path template using the route's captures: `/invoices/{id}`, `/files/{*rest}`.
    #[serde(default, deserialize_with = "lenient_field")]
    pub path: Option<String>,
    /// A literal prefix of the route's path pattern to remove before forwarding.
    #[serde(default, deserialize_with = "lenient_field")]
    pub strip_prefix: Option<String>,
    /// The `Host` sent upstream: the endpoint's (`upstream`, the default) or the client's.
    #[serde(default, deserialize_with = "lenient_field")]
    pub host: Option<HostRewrite>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostRewrite {
    #[default]
    Upstream,
    Client,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RespondConfig {
    #[serde(
        default = "RespondConfig::default_status",
        deserialize_with = "lenient_field"
    )]
    pub status: u16,
    #[serde(default, deserialize_with = "lenient_field")]
    pub body: String,
    #[serde(
        default = "RespondConfig::default_content_type",
        deserialize_with = "lenient_field"
    )]
    pub content_type: String,
}

impl RespondConfig {
    fn default_status() -> u16 {
        200
    }
    fn default_content_type() -> String {
        "text/plain; charset=utf-8".into()
    }
}
