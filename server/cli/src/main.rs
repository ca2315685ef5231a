//! `precedent`: the command-line entry point. Each subcommand lives in `commands/`.
//!
//! stdout carries data (JSON lines, tables); logs and progress go to stderr.

mod commands;
mod options;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{bench, check, demo, doctor, eval, index, lm_score, predict, serve, setup, suggest};
use options::GlobalOptions;

#[derive(Parser)]
#[command(
    name = "precedent",
    version,
    about = "A writing assistant: next-word suggestions from a small language model, \
             corrected by your team's documents (kNN-LM).",
    after_help = "Getting started:\n  \
        precedent setup              install ONNX Runtime and the default model\n  \
        precedent doctor             check that both load\n  \
        precedent predict \"The results of the\"\n  \
        precedent index docs/ --out team.index\n  \
        precedent serve              the language server, started by editors\n\n\
        Files live in precedent's data directory: $PRECEDENT_HOME, else \
        $XDG_DATA_HOME/precedent, else ~/.local/share/precedent.\n\
        Set PRECEDENT_LOG (e.g. PRECEDENT_LOG=debug; RUST_LOG if it is unset) for more log \
        output on stderr."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Setup(setup::Args),
    Serve(serve::Args),
    Demo(demo::Args),
    Index(index::Args),
    Suggest(suggest::Args),
    Check(check::Args),
    Eval(eval::Args),
    Predict(predict::Args),
    LmScore(lm_score::Args),
    Bench(bench::Args),
    Doctor(doctor::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    options::init_logging(cli.global.verbose);
    let result = match &cli.command {
        Command::Setup(args) => setup::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Demo(args) => demo::run(&cli.global, args),
        Command::Index(args) => index::run(&cli.global, args),
        Command::Suggest(args) => suggest::run(&cli.global, args),
        Command::Check(args) => {
            return match check::run(&cli.global, args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) if error.is::<check::HintsFound>() => ExitCode::from(1),
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Eval(args) => eval::run(&cli.global, args),
        Command::Predict(args) => predict::run(&cli.global, args),
        Command::LmScore(args) => lm_score::run(&cli.global, args),
        Command::Bench(args) => bench::run(&cli.global, args),
        Command::Doctor(args) => doctor::run(&cli.global, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`precedent lm-score f | head`) is not a failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
