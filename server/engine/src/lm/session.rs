//! The ONNX session of a model and its KV cache: one forward pass at a time.
//!
//! `ort::Session::run` takes `&mut self`, so a [`ModelSession`] has exactly one owner: the
//! worker thread of [`LanguageModel`](super::LanguageModel). Nothing here is shared.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use ndarray::{Axis, Slice};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{DynValue, Tensor};

use super::error::LmError;
use super::manifest::Manifest;
use crate::runtime::Runtime;

/// How a model session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads ONNX Runtime uses inside one operator (the machines have 2 cores).
    pub intra_threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { intra_threads: 2 }
    }
}

/// Tensor names of the graph, resolved from the manifest once.
#[derive(Debug)]
struct IoNames {
    input_ids: String,
    position_ids: String,
    logits_to_keep: String,
    /// (key, value) input names per layer.
    past: Vec<(String, String)>,
    logits: String,
    knn_key: String,
    /// (key, value) output names per layer.
    present: Vec<(String, String)>,
}

impl IoNames {
    fn new(manifest: &Manifest) -> IoNames {
        let per_layer = |key: &str, value: &str| {
            (0..manifest.num_layers)
                .map(|layer| {
                    (
                        Manifest::layer_name(key, layer),
                        Manifest::layer_name(value, layer),
                    )
                })
                .collect()
        };
        IoNames {
            input_ids: manifest.inputs.input_ids.clone(),
            position_ids: manifest.inputs.position_ids.clone(),
            logits_to_keep: manifest.inputs.logits_to_keep.clone(),
            past: per_layer(&manifest.inputs.past_key, &manifest.inputs.past_value),
            logits: manifest.outputs.logits.clone(),
            knn_key: manifest.outputs.knn_key.clone(),
            present: per_layer(
                &manifest.outputs.present_key,
                &manifest.outputs.present_value,
            ),
        }
    }

    fn inputs(&self) -> impl Iterator<Item = &str> {
        [&self.input_ids, &self.position_ids, &self.logits_to_keep]
            .into_iter()
            .chain(self.past.iter().flat_map(|(key, value)| [key, value]))
            .map(String::as_str)
    }

    fn outputs(&self) -> impl Iterator<Item = &str> {
        [&self.logits, &self.knn_key]
            .into_iter()
            .chain(self.present.iter().flat_map(|(key, value)| [key, value]))
            .map(String::as_str)
    }
}

/// The tokens a context has run and the model's key/value tensors for them.
///
/// The tensors are the previous run's outputs, passed back as the next run's inputs
/// without copying; only [`truncate`](Self::truncate) copies.
#[derive(Default)]
pub struct KvCache {
    tokens: Vec<u32>,
    /// (key, value) per layer, each [1, kv_heads, tokens.len(), head_dim]; empty when no tokens.
    layers: Vec<(DynValue, DynValue)>,
}

impl KvCache {
    /// Keeps the first `len` tokens (a slice on the sequence axis of every tensor).
    pub fn truncate(&mut self, len: usize) -> Result<(), LmError> {
        if len < self.tokens.len() {
            *self = self.prefix(len)?;
        }
        Ok(())
    }

    /// A copy of the cache's first `len` tokens (all of them if it holds fewer).
    pub fn prefix(&self, len: usize) -> Result<KvCache, LmError> {
        let len = len.min(self.tokens.len());
        if len == 0 {
            return Ok(KvCache::default());
        }
        let keep = |value: &DynValue| -> Result<DynValue, LmError> {
            let view = value.try_extract_array::<f32>()?;
            let kept = view.slice_axis(Axis(2), Slice::from(..len));
            Ok(Tensor::from_array(kept.as_standard_layout().into_owned())?.into_dyn())
        };
        let layers = self
            .layers
            .iter()
            .map(|(key, value)| Ok((keep(key)?, keep(value)?)))
            .collect::<Result<Vec<_>, LmError>>()?;
        Ok(KvCache {
            tokens: self.tokens[..len].to_vec(),
            layers,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Length of the longest common prefix of the cached tokens and `tokens`.
    pub fn common_prefix(&self, tokens: &[u32]) -> usize {
        self.tokens
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count()
    }
}

/// What one forward pass produced, borrowed from ONNX Runtime's output buffers.
pub struct RunOutput<'a> {
    /// [kept, vocab_size] logits of the last `kept` new positions.
    pub logits: &'a [f32],
    pub kept: usize,
    /// [new, key_dim] kNN keys of every new position.
    pub knn_keys: &'a [f32],
}

/// Ends the session's run in progress, from another thread: the run returns an error as
/// soon as ONNX Runtime next checks (between graph nodes). Lets an editor's keystroke
/// preempt background work instead of waiting for it.
#[derive(Clone)]
pub struct Interrupter(Arc<RunOptions>);

impl Interrupter {
    /// Ends the run in progress, and any run started before [`reset`](Self::reset).
    pub fn interrupt(&self) {
        if let Err(error) = self.0.terminate() {
            tracing::warn!(%error, "cannot interrupt the model run");
        }
    }

    pub fn reset(&self) {
        if let Err(error) = self.0.unterminate() {
            tracing::warn!(%error, "cannot clear the model's interrupt flag");
        }
    }
}

pub struct ModelSession {
    session: Session,
    run_options: Arc<RunOptions>,
    io: IoNames,
    vocab_size: usize,
    key_dim: usize,
    num_kv_heads: usize,
    head_dim: usize,
    max_positions: usize,
}

impl ModelSession {
    /// Creates the ONNX session for the model in `model_dir` and checks its inputs and
    /// outputs against the manifest.
    pub fn open(
        runtime: &Runtime,
        model_dir: &Path,
        manifest: &Manifest,
        options: SessionOptions,
    ) -> Result<ModelSession, LmError> {
        let path = manifest.onnx_path(model_dir);
        if !path.is_file() {
            return Err(LmError::ModelFileUnreadable {
                path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let session_error = |source: ort::Error| LmError::Session {
            path: path.clone(),
            source,
        };
        let session = Session::builder(runtime.environment())
            .and_then(
                |builder| Ok(builder.with_optimization_level(GraphOptimizationLevel::Level3)?),
            )
            .and_then(|builder| Ok(builder.with_intra_threads(options.intra_threads.max(1))?))
            .and_then(|mut builder| builder.commit_from_file(&path))
            .map_err(session_error)?;
        let io = IoNames::new(manifest);
        let graph_inputs: Vec<&str> = session.inputs().iter().map(|input| input.name()).collect();
        let graph_outputs: Vec<&str> = session
            .outputs()
            .iter()
            .map(|output| output.name())
            .collect();
        let missing = |graph: &[&str], manifest: Vec<&str>| -> Vec<String> {
            manifest
                .into_iter()
                .filter(|name| !graph.contains(name))
                .map(String::from)
                .collect()
        };
        let mismatch = |reason: String| LmError::GraphMismatch {
            path: path.clone(),
            reason,
        };
        let absent_inputs = missing(&graph_inputs, io.inputs().collect());
        if !absent_inputs.is_empty() {
            return Err(mismatch(format!(
                "the graph has no inputs {absent_inputs:?} (it has {graph_inputs:?})"
            )));
        }
        let unknown_inputs = missing(&io.inputs().collect::<Vec<_>>(), graph_inputs.clone());
        if !unknown_inputs.is_empty() {
            return Err(mismatch(format!(
                "the graph needs inputs {unknown_inputs:?} the manifest does not name"
            )));
        }
        let absent_outputs = missing(&graph_outputs, io.outputs().collect());
        if !absent_outputs.is_empty() {
            return Err(mismatch(format!(
                "the graph has no outputs {absent_outputs:?} (it has {graph_outputs:?})"
            )));
        }
        Ok(ModelSession {
            session,
            run_options: Arc::new(RunOptions::new().map_err(session_error)?),
            io,
            vocab_size: manifest.vocab_size,
            key_dim: manifest.key_dim,
            num_kv_heads: manifest.num_kv_heads,
            head_dim: manifest.head_dim,
            max_positions: manifest.max_positions,
        })
    }

    /// Runs `new_tokens` after the tokens already in `cache`, appends them to the cache and
    /// hands the outputs to `read` while they are still in ONNX Runtime's buffers.
    ///
    /// `logits_to_keep` is clamped to 1..=new_tokens.len().
    pub fn forward<R>(
        &mut self,
        cache: &mut KvCache,
        new_tokens: &[u32],
        logits_to_keep: usize,
        read: impl FnOnce(RunOutput<'_>) -> R,
    ) -> Result<R, LmError> {
        let (result, present) = self.run(cache, new_tokens, logits_to_keep, read)?;
        cache.tokens.extend_from_slice(new_tokens);
        cache.layers = present;
        Ok(result)
    }

    /// Runs `new_tokens` after the tokens in `cache` without changing it: the outputs go to
    /// `read`, and the new key/value tensors (the cache extended by `new_tokens`) are
    /// returned.
    #[allow(clippy::type_complexity)]
    pub fn run<R>(
        &mut self,
        cache: &KvCache,
        new_tokens: &[u32],
        logits_to_keep: usize,
        read: impl FnOnce(RunOutput<'_>) -> R,
    ) -> Result<(R, Vec<(DynValue, DynValue)>), LmError> {
        if new_tokens.is_empty() {
            return Err(LmError::EmptyInput);
        }
        if let Some(&id) = new_tokens
            .iter()
            .find(|&&id| id as usize >= self.vocab_size)
        {
            return Err(LmError::TokenOutOfRange {
                id,
                vocab_size: self.vocab_size,
            });
        }
        let past = cache.tokens.len();
        let new = new_tokens.len();
        if past + new > self.max_positions {
            return Err(LmError::ContextTooLong {
                length: past + new,
                max_positions: self.max_positions,
            });
        }
        let kept = logits_to_keep.clamp(1, new);

        let ids: Vec<i64> = new_tokens.iter().map(|&id| i64::from(id)).collect();
        let positions: Vec<i64> = (past..past + new).map(|p| p as i64).collect();
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (
                self.io.input_ids.as_str().into(),
                Tensor::from_array(([1, new], ids))?.into(),
            ),
            (
                self.io.position_ids.as_str().into(),
                Tensor::from_array(([1, new], positions))?.into(),
            ),
            (
                self.io.logits_to_keep.as_str().into(),
                Tensor::from_array(((), vec![kept as i64]))?.into(),
            ),
        ];
        if cache.layers.is_empty() {
            let empty = [1, self.num_kv_heads, 0, self.head_dim];
            for (key, value) in &self.io.past {
                inputs.push((
                    key.as_str().into(),
                    Tensor::<f32>::from_array((empty, Vec::new()))?.into(),
                ));
                inputs.push((
                    value.as_str().into(),
                    Tensor::<f32>::from_array((empty, Vec::new()))?.into(),
                ));
            }
        } else {
            for ((key, value), (past_key, past_value)) in self.io.past.iter().zip(&cache.layers) {
                inputs.push((key.as_str().into(), past_key.into()));
                inputs.push((value.as_str().into(), past_value.into()));
            }
        }

        let mut outputs = self.session.run_with_options(inputs, &*self.run_options)?;
        let mut present = Vec::with_capacity(self.io.present.len());
        for (key, value) in &self.io.present {
            let mut take = |name: &str| {
                outputs
                    .remove(name)
                    .expect("output names were checked at load")
            };
            present.push((take(key), take(value)));
        }
        let logits = extract(
            &outputs[self.io.logits.as_str()],
            &self.io.logits,
            [1, kept, self.vocab_size],
        )?;
        let knn_keys = extract(
            &outputs[self.io.knn_key.as_str()],
            &self.io.knn_key,
            [1, new, self.key_dim],
        )?;
        let result = read(RunOutput {
            logits,
            kept,
            knn_keys,
        });
        Ok((result, present))
    }

    /// A handle that interrupts this session's runs.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.run_options.clone())
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn key_dim(&self) -> usize {
        self.key_dim
    }
}

/// The f32 data of `value`, after checking its shape.
fn extract<'a>(
    value: &'a DynValue,
    name: &str,
    expected: [usize; 3],
) -> Result<&'a [f32], LmError> {
    let (shape, data) = value.try_extract_tensor::<f32>()?;
    let expected: Vec<i64> = expected.iter().map(|&d| d as i64).collect();
    if **shape != *expected {
        return Err(LmError::UnexpectedOutput {
            name: name.to_string(),
            actual: shape.to_vec(),
            expected,
        });
    }
    Ok(data)
}
