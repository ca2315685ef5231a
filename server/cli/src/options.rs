//! Options every subcommand accepts, and loading the model they name.

use std::path::PathBuf;

use clap::{ArgAction, Args};
use precedent_engine::lm::{LanguageModel, SessionOptions};
use precedent_engine::paths::DataDir;
use precedent_engine::runtime::{self, Runtime};
use tracing_subscriber::EnvFilter;

#[derive(Args)]
pub struct GlobalOptions {
    /// Model directory (manifest.json, model.onnx, tokenizer.json) [default: the model
    /// `precedent setup` installs, <data dir>/models/smollm2-135m]
    #[arg(long, global = true, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Threads ONNX Runtime may use for one model run
    #[arg(long, global = true, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,

    /// Log more on stderr: -v for info, -vv for debug (PRECEDENT_LOG, else RUST_LOG, overrides)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

impl GlobalOptions {
    /// The model directory: `--model`, else the default model in the data directory.
    pub fn model_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.model {
            Some(dir) => Ok(dir.clone()),
            None => Ok(DataDir::from_env()?.default_model_dir()),
        }
    }

    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            intra_threads: usize::from(self.threads),
            ..SessionOptions::default()
        }
    }

    /// Loads ONNX Runtime and the model.
    pub fn load_model(&self) -> anyhow::Result<LanguageModel> {
        let runtime = runtime::init()?;
        self.load_model_with(&runtime)
    }

    pub fn load_model_with(&self, runtime: &Runtime) -> anyhow::Result<LanguageModel> {
        let dir = self.model_dir()?;
        Ok(LanguageModel::load(runtime, &dir, self.session_options())?)
    }
}

/// Logs go to stderr only; stdout is data.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // RUST_LOG is the Rust convention, so it works too; PRECEDENT_LOG is ours and wins.
    let filter = ["PRECEDENT_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|variable| EnvFilter::try_from_env(variable).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colours only on a terminal: editors show the server's stderr as plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(filter)
        .init();
}
