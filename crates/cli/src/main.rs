//! The local command line; everything it does lives in the `flexlex_cli` library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    flexlex_cli::run(flexlex_cli::Cli::parse())
}
