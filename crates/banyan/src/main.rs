//! The `banyan` binary: parses flags and wires the crates together. Thin by design.
#![forbid(unsafe_code)]

mod cli;
mod routes;
mod run;

use std::process::ExitCode;

use clap::Parser;

// A proxy allocates and frees many small, short-lived buffers per request; mimalloc's
// thread-local free lists serve that pattern with less CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Validate(args) => routes::validate(&args.config),
        cli::Command::Routes(args) => routes::routes(args),
    }
}
