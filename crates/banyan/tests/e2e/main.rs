//! End-to-end tests: real sockets, real backends, real clients. One test binary, one module
//! per behaviour, so that the suite links once.

mod harness;
mod wire;

mod admin_api;
mod cli;
mod endpoint_base_path;
mod examples_validate;
mod h1_smuggling;
mod h2_abuse;
mod header_matchers;
mod host_and_target;
mod integrity;
mod limits_and_slow_clients;
mod path_normalisation;
mod proxying;
mod quickstart;
mod reload_under_load;
mod shutdown_drain;
mod spoofed_identity_headers;
mod streaming;
mod upstream_errors;
mod upstream_h1;
mod upstream_http2;
mod upstream_http2_bodies;
mod upstream_pool;
mod upstream_statuses;
mod workers;
