//! `meshcore-analyzer`: the command line of the analyzer.
//!
//! Each subcommand lives in its own module; `main` parses arguments, sets up logging and
//! maps errors to exit codes (0 success, 2 unusable arguments or configuration, 1 failure).
//! Logging goes to stderr; `MESHCORE_LOG` (or `RUST_LOG`) sets the filter, default
//! `info,rumqttd=off` (the embedded broker logs every connection at error level otherwise).

mod decode;
mod demo;
mod gen_db;
mod serve;
mod simulate;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: glibc keeps a heap arena per thread that touched
/// memory (tokio workers, the blocking pool, the loader), and freed chunks stay resident in
/// each; on the 325K/7.1M benchmark database the server's resident size after the load and an
/// API sweep went from 1.12-1.72 GB (glibc) to the figure in the README.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Self-hosted analyzer for MeshCore LoRa mesh networks.
#[derive(Debug, Parser)]
#[command(name = "meshcore-analyzer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode MeshCore frames given as hex (arguments, or one per line on stdin) to JSON.
    Decode(decode::DecodeArgs),
    /// Run ingestion and the HTTP server (the analyzer itself).
    Serve(serve::ServeArgs),
    /// Write a database of simulated traffic in CoreScope's schema (benchmarks, demos).
    GenDb(gen_db::GenDbArgs),
    /// Publish a simulated mesh to an MQTT broker as observers do (demos, load tests).
    Simulate(simulate::SimulateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // gen-db feeds deliberately malformed frames through the ingest processor: their
    // rejections are expected there, not news.
    let default_filter = match cli.command {
        Command::GenDb(_) => "info,rumqttd=off,analyzer_ingest::reject=error",
        _ => "info,rumqttd=off",
    };
    init_logging(default_filter);
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::GenDb(args) => gen_db::run(&args),
        Command::Simulate(args) => simulate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("meshcore-analyzer: {error:#}");
            match error.downcast_ref::<UsageError>() {
                Some(_) => ExitCode::from(2),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// Arguments or configuration that cannot be used: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn init_logging(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MESHCORE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
