//! The command line: argument definitions (clap) and one module per subcommand.
//!
//! `main.rs` only calls [`main`]; each subcommand returns its process exit code so the exit
//! status contract (PRODUCT.md, "Exit codes") lives next to the code that decides it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod serve;

/// A TLS-terminating reverse proxy that diagnoses.
#[derive(Debug, Parser)]
#[command(name = "tlsgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (default: ./tlsgate.yaml if it exists, else the built-in dev default).
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Forward everything to this upstream URL (overrides the config's upstreams and routes).
    #[arg(long)]
    pub upstream: Option<String>,
    /// Listen on this address (overrides the first listener's bind).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

/// Output format of the diagnosing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Parses the command line and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
