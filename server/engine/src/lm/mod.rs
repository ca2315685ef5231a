//! The language model: manifest, tokenizer, ONNX session on a worker thread, KV-cache reuse,
//! per-position scoring and next-token distributions.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use precedent_engine::{lm, runtime};
//! let runtime = runtime::init()?;
//! let model = lm::LanguageModel::load(&runtime, "models/smollm2-135m".as_ref(), Default::default())?;
//! let scores = model.score_text("The quick brown fox", Default::default())?;
//! println!("perplexity {:?}", scores.perplexity());
//! # Ok(())
//! # }
//! ```

mod error;
mod manifest;
mod model;
mod scoring;
mod session;
mod tokenizer;

pub use error::LmError;
pub use manifest::{
    InputNames, Manifest, OutputNames, SpecialTokens, LAYER_PLACEHOLDER, MANIFEST_FORMAT,
};
pub use model::{Context, Forward, LanguageModel, NextToken, ScoreOptions, Scores};
pub use scoring::{argmax, log_softmax, log_sum_exp, plan_windows, PositionScore, Window};
pub use session::SessionOptions;
pub use tokenizer::{TextTokenizer, TokenSpan};
