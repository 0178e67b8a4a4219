//! Banyan's data plane: listeners, the request procedure (sanitize → route → forward →
//! respond), upstream pools, problem+json errors, reload and the admin listener.
//!
//! Reads configuration only as compiled [`snapshot::Snapshot`]s; never imports the control
//! plane (a gateway talks to it through the snapshot protocol only).
#![forbid(unsafe_code)]

pub mod admin;
pub mod body;
mod date;
pub mod error;
pub mod h1;
pub mod h1_server;
pub mod h2_server;
mod maps;
pub mod pool;
pub mod proxy;
pub mod reload;
pub mod sanitize;
pub mod server;
pub mod snapshot;
pub mod upstream;

pub use error::GatewayError;
pub use proxy::{ConnInfo, Gateway};
pub use reload::Reloader;
pub use server::Server;
pub use snapshot::Snapshot;
pub use upstream::PoolRegistry;
