//! Errors of the language model, each worded so that a user knows what to do next.

use std::path::PathBuf;

use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error(
        "cannot read the model manifest {}: {error}. Run `precedent setup` to install the \
         default model, or pass --model DIR with a model directory (see models/MANIFEST.md)",
        path.display()
    )]
    ManifestUnreadable {
        path: PathBuf,
        // Shown in the message, so not a `source` (error reporters would print it twice).
        error: std::io::Error,
    },

    #[error("the model manifest {} is invalid: {reason}", path.display())]
    ManifestInvalid { path: PathBuf, reason: String },

    #[error(
        "cannot read {}: {error}. The model directory is incomplete; run `precedent setup` \
         again (or rebuild the model)",
        path.display()
    )]
    ModelFileUnreadable {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error(
        "cannot load the tokenizer {}: {reason}. The model directory is incomplete or damaged; \
         run `precedent setup` again (or rebuild the model)",
        path.display()
    )]
    Tokenizer { path: PathBuf, reason: String },

    #[error(transparent)]
    Runtime(#[from] RuntimeError),

    #[error(
        "ONNX Runtime cannot load the model {}: {source}. Run `precedent setup` again to \
         reinstall it, or check that the file is an ONNX model following models/MANIFEST.md",
        path.display()
    )]
    Session { path: PathBuf, source: ort::Error },

    #[error(
        "the model {} does not match its manifest: {reason}. Rebuild the model, or fix manifest.json",
        path.display()
    )]
    GraphMismatch { path: PathBuf, reason: String },

    #[error("the model failed while running: {0}")]
    Inference(#[from] ort::Error),

    #[error("the model returned {name} with shape {actual:?}, expected {expected:?}")]
    UnexpectedOutput {
        name: String,
        actual: Vec<i64>,
        expected: Vec<i64>,
    },

    #[error("cannot tokenize the text: {0}")]
    Encode(String),

    #[error("token id {id} is outside the model's vocabulary of {vocab_size} tokens")]
    TokenOutOfRange { id: u32, vocab_size: usize },

    #[error(
        "the context has {length} tokens but the model accepts at most {max_positions}; \
         score long texts with sliding windows instead"
    )]
    ContextTooLong { length: usize, max_positions: usize },

    #[error("nothing to run: the token sequence is empty")]
    EmptyInput,

    #[error("invalid scoring options: {0}")]
    InvalidOptions(String),

    #[error("cannot start the language model's worker thread: {0}")]
    WorkerSpawn(std::io::Error),

    #[error("the language model worker thread has stopped (it panicked earlier; see the log)")]
    WorkerStopped,
}
