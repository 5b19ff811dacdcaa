//! The `tlsgate` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    tlsgate::cli::main()
}
