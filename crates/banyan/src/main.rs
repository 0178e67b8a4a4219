//! The `banyan` binary: parses flags and wires the crates together. Thin by design.
#![forbid(unsafe_code)]

mod cli;
mod routes;
mod run;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Validate(args) => routes::validate(&args.config),
        cli::Command::Routes(args) => routes::routes(args),
    }
}
