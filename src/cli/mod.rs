//! The command line: argument definitions (clap) and one module per subcommand.
//!
//! `main.rs` only calls [`main`]; each subcommand returns its process exit code so the exit
//! status contract (docs/spec.md, "Exit codes") lives next to the code that decides it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod certs_init;
pub mod check;
pub mod codes;
pub mod inspect;
pub mod probe;
pub mod report;
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
    /// Validate the configuration and every certificate, key and chain it names (like `nginx -t`,
    /// but explains).
    Check(CheckArgs),
    /// Diagnose local PEM files without running anything.
    Inspect(InspectArgs),
    /// Diagnose a remote TLS endpoint: presented chain, trust per store, name, validity,
    /// negotiated parameters, client-certificate request, TLS inspection, plain HTTP.
    Probe(probe::ProbeArgs),
    /// Local development certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Print the catalogue of finding codes: group, severity, HTTP status a client gets,
    /// whether a retry can help, summary and fix.
    Codes(codes::CodesArgs),
    /// Explain one finding code in full.
    Explain(codes::ExplainArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file (default: ./tlsgate.yaml).
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Do not connect to upstreams; check only the configuration and local files.
    #[arg(long)]
    pub offline: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// PEM files that together form one bundle: certificates in the order given, a key in any.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The private key, if not in one of FILES.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// A name the certificate must cover (repeatable).
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Extra trust anchors (a private CA's root).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create a local dev CA and a leaf for localhost, 127.0.0.1, ::1 and the given names.
    Init(CertsInitArgs),
}

#[derive(Debug, Args)]
pub struct CertsInitArgs {
    /// Where to write the files.
    #[arg(long, default_value = ".tlsgate/certs")]
    pub dir: PathBuf,
    /// Extra names for the leaf (repeatable).
    #[arg(long = "name")]
    pub names: Vec<String>,
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
    /// Once every listener and the admin API are bound, write their addresses to this file as
    /// JSON (`{"listeners":[{"name":…,"addr":…,"tls":…}],"admin":…}`), atomically (a temporary
    /// file renamed into place). With port 0 in a bind address this is how to learn the port.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
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
        Command::Check(args) => check::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Certs(CertsCommand::Init(args)) => certs_init::run(args),
        Command::Codes(args) => codes::run_codes(args),
        Command::Explain(args) => codes::run_explain(args),
    }
}
