//! `tracehound`: follow stolen crypto across chains to where it can be frozen.
//!
//! This binary is thin: it parses arguments ([`args`]), sets up logging, and hands each
//! command to its module. Errors are printed as `error:` with each cause on its own line.

mod alerts;
mod args;
mod bench;
mod bench_live;
mod cluster;
mod demo;
mod demo_cross;
mod demo_live;
mod examples;
mod heads;
mod import;
mod ingest;
mod ingest_evm;
mod jobs;
mod labels;
mod links;
mod opening;
mod output;
mod patterns;
mod query;
mod replay;
mod result_writer;
mod screen;
mod serve;
mod sim;
mod trace;
mod watch;
mod zmq;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// `tracehound … | head` should end quietly, as any Unix tool does: Rust ignores SIGPIPE, so
/// printing into a closed pipe would panic instead.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: sets a signal's disposition to the default at startup, before any thread runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    let matches = examples::with_examples(args::Cli::command()).get_matches();
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: args::Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        args::Command::Ingest(args::IngestCommand::Btc(a)) => ingest::run_btc(&global, &a),
        args::Command::Ingest(args::IngestCommand::Evm(a)) => ingest_evm::run(&global, &a),
        args::Command::Status => query::status(&global),
        args::Command::Tx(a) => query::tx(&global, &a),
        args::Command::Address(a) => query::address(&global, &a),
        args::Command::Export(args::ExportCommand::Parquet(a)) => {
            query::export_parquet(&global, &a)
        }
        args::Command::Demo(a) => demo::run(&global, &a),
        args::Command::Bench(args::BenchCommand::Ingest(a)) => bench::ingest(&global, &a),
        args::Command::Bench(args::BenchCommand::Parse(a)) => bench::parse(&global, &a),
        args::Command::Bench(args::BenchCommand::Gen(a)) => bench::generate(&global, &a),
        args::Command::Bench(args::BenchCommand::IngestEvm(a)) => bench::ingest_evm(&global, &a),
        args::Command::Bench(args::BenchCommand::Trace(a)) => bench::trace(&global, &a),
        args::Command::Sim(args::SimCommand::Run(a)) => sim::run(&global, &a),
        args::Command::Sim(args::SimCommand::Score(a)) => sim::score(&global, &a),
        args::Command::Sim(args::SimCommand::Record(a)) => sim::record(&a),
        args::Command::Sim(args::SimCommand::Replay { recording }) => sim::replay(&recording),
        args::Command::Trace(a) => trace::run(&global, &a),
        args::Command::Import(args::ImportCommand::Transfers(a)) => {
            import::run_transfers(&global, &a)
        }
        args::Command::Labels(c) => labels::run(&global, c),
        args::Command::Cluster(a) => cluster::run(&global, &a),
        args::Command::Entity(args::EntityCommand::Show(a)) => cluster::show(&global, &a),
        args::Command::Bench(args::BenchCommand::Cluster(a)) => cluster::bench(&global, &a),
        args::Command::Bench(args::BenchCommand::Screen(a)) => screen::bench(&global, &a),
        args::Command::Bench(args::BenchCommand::Jobs(a)) => jobs::bench(&global, &a),
        args::Command::Bench(args::BenchCommand::Live(a)) => bench_live::run(&global, &a),
        args::Command::Jobs(args::JobsCommand::Run(a)) => jobs::run(&global, &a),
        args::Command::Screen(a) => screen::run(&global, &a),
        args::Command::Patterns(a) => patterns::run(&global, &a),
        args::Command::Serve(a) => serve::run(&global, &a),
        args::Command::Report(a) => serve::report(&global, &a),
        args::Command::Token(c) => serve::token(&global, c),
        args::Command::Watch(a) => watch::run(&global, &a),
        args::Command::Alerts(c) => alerts::alerts(&global, c),
        args::Command::Subscription(c) => alerts::subscription(&global, c),
        args::Command::Incident(args::IncidentCommand::Create(a)) => trace::create(&global, &a),
        args::Command::Incident(args::IncidentCommand::List) => trace::list(&global),
        args::Command::Incident(args::IncidentCommand::Show { which }) => {
            trace::show(&global, &which)
        }
    }
}
