//! The local command line; everything it does lives in `flexlex::cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    flexlex::cli::run(flexlex::cli::Cli::parse())
}
