//! Command-line flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "banyan",
    version,
    about = "Banyan, an API gateway for monoliths becoming services"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway with a config file (reloaded on change, SIGHUP or POST /admin/reload).
    Run(RunArgs),
    /// Check a config file: print every error with its path, line and column; exit 1 if any.
    Validate(ConfigArg),
    /// Print the compiled route table in priority order, or explain which route a request takes.
    Routes(RoutesArgs),
}

#[derive(Args)]
pub struct ConfigArg {
    /// The config file (YAML).
    #[arg(short, long)]
    pub config: PathBuf,
}

#[derive(Args)]
pub struct RunArgs {
    #[arg(short, long)]
    pub config: PathBuf,
    /// Runtime worker threads (overrides `runtime.worker_threads`); 1 runs single-threaded.
    #[arg(long, env = "BANYAN_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Log format: `text` or `json`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Do not watch the config file for changes (SIGHUP and the admin API still reload).
    #[arg(long)]
    pub no_watch: bool,
}

#[derive(Args)]
pub struct RoutesArgs {
    #[command(subcommand)]
    pub explain: Option<Explain>,
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Only this listener's table.
    #[arg(long)]
    pub listener: Option<String>,
}

#[derive(Subcommand)]
pub enum Explain {
    /// Say which route a request would take and why each route ranked above it lost.
    Explain(ExplainArgs),
}

#[derive(Args)]
pub struct ExplainArgs {
    #[arg(short, long)]
    pub config: PathBuf,
    /// The request method, e.g. GET.
    pub method: String,
    /// The request URL, e.g. https://api.example.com/v2/invoices/42?x=1
    pub url: String,
    /// A request header, `name: value`; repeat for more.
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// The listener the request arrives on (default: the first).
    #[arg(long)]
    pub listener: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
