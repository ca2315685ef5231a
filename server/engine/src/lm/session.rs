//! The ONNX session of a model and its KV cache: one forward pass at a time.
//!
//! `ort::Session::run` takes `&mut self`, so a [`ModelSession`] has exactly one owner: the
//! worker thread of [`LanguageModel`](super::LanguageModel). Nothing here is shared.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session, SessionInputValue, SessionOutputs};
use ort::value::{DynValue, Tensor};

use super::error::LmError;
use super::manifest::{Manifest, PastBuffer};
use crate::runtime::Runtime;

/// How a model session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads ONNX Runtime uses inside one operator (the machines have 2 cores).
    pub intra_threads: usize,
    /// Let the model write new keys and values into the cache's own buffers when its
    /// manifest allows it (`past_buffer: shared`), instead of copying the whole cache into
    /// a new tensor on every run. Off only to compare the two ways.
    pub kv_in_place: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            intra_threads: 2,
            kv_in_place: true,
        }
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
/// Each tensor is [1, kv_heads, capacity, head_dim] and holds the cache in its first
/// `tokens.len()` positions. When the model writes in place, the capacity has room for
/// later tokens, which each run fills without copying the cache, and what lies beyond the
/// tokens is scratch. Otherwise the capacity is the token count and each run's outputs
/// (the cache extended) replace the tensors.
#[derive(Default)]
pub struct KvCache {
    tokens: Vec<u32>,
    /// (key, value) per layer; empty when no tokens.
    layers: Vec<(DynValue, DynValue)>,
    capacity: usize,
    in_place: bool,
}

impl KvCache {
    /// Keeps the first `len` tokens.
    pub fn truncate(&mut self, len: usize) -> Result<(), LmError> {
        if len < self.tokens.len() {
            if self.in_place {
                self.tokens.truncate(len); // the rest becomes scratch
            } else {
                *self = self.prefix(len, 0)?;
            }
        }
        Ok(())
    }

    /// A copy of the cache's first `len` tokens (all of them if it holds fewer), with room
    /// for `room` more tokens when the model writes in place.
    pub fn prefix(&self, len: usize, room: usize) -> Result<KvCache, LmError> {
        let len = len.min(self.tokens.len());
        if len == 0 {
            return Ok(KvCache::default());
        }
        let capacity = if self.in_place { len + room } else { len };
        let layers = self
            .layers
            .iter()
            .map(|(key, value)| {
                Ok((
                    copy_positions(key, len, capacity)?,
                    copy_positions(value, len, capacity)?,
                ))
            })
            .collect::<Result<Vec<_>, LmError>>()?;
        Ok(KvCache {
            tokens: self.tokens[..len].to_vec(),
            layers,
            capacity,
            in_place: self.in_place,
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
    /// Runs write new keys and values into the cache's buffers (see [`KvCache`]).
    in_place: bool,
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
                error: std::io::Error::from(std::io::ErrorKind::NotFound),
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
            in_place: options.kv_in_place && manifest.past_buffer == PastBuffer::Shared,
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
        if let Some(present) = present {
            cache.layers = present;
            cache.capacity = cache.tokens.len() + new_tokens.len();
        }
        cache.tokens.extend_from_slice(new_tokens);
        Ok(result)
    }

    /// Runs `new_tokens` after the tokens in `cache` and hands the outputs to `read`, but
    /// leaves the cache's tokens as they were: a branch tried and forgotten. (In place, the
    /// run leaves its keys and values in the cache's scratch room.)
    pub fn branch<R>(
        &mut self,
        cache: &mut KvCache,
        new_tokens: &[u32],
        logits_to_keep: usize,
        read: impl FnOnce(RunOutput<'_>) -> R,
    ) -> Result<R, LmError> {
        let (result, _present) = self.run(cache, new_tokens, logits_to_keep, read)?;
        Ok(result)
    }

    /// One forward pass of `new_tokens` after the tokens in `cache`. In place, the cache's
    /// tensors then hold the new keys and values after its tokens; otherwise they come back
    /// as new tensors (the cache extended). The token list is the caller's to extend.
    #[allow(
        clippy::type_complexity,
        reason = "the new (key, value) tensors per layer; used here only"
    )]
    fn run<R>(
        &mut self,
        cache: &mut KvCache,
        new_tokens: &[u32],
        logits_to_keep: usize,
        read: impl FnOnce(RunOutput<'_>) -> R,
    ) -> Result<(R, Option<Vec<(DynValue, DynValue)>>), LmError> {
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
        let ids = Tensor::from_array(([1, new], ids))?;
        let positions = Tensor::from_array(([1, new], positions))?;
        let kept_input = Tensor::from_array(((), vec![kept as i64]))?;
        let (io, vocab_size, key_dim) = (&self.io, self.vocab_size, self.key_dim);

        if self.in_place {
            self.reserve(cache, past + new)?;
            let mut binding = self.session.create_binding()?;
            binding.bind_input(&self.io.input_ids, &ids)?;
            binding.bind_input(&self.io.position_ids, &positions)?;
            binding.bind_input(&self.io.logits_to_keep, &kept_input)?;
            for (layer, tensors) in cache.layers.iter_mut().enumerate() {
                let (past_key, past_value) = &self.io.past[layer];
                let (present_key, present_value) = &self.io.present[layer];
                binding.bind_input(past_key, &tensors.0)?;
                binding.bind_output(present_key, &mut tensors.0)?;
                binding.bind_input(past_value, &tensors.1)?;
                binding.bind_output(present_value, &mut tensors.1)?;
            }
            let memory = MemoryInfo::new(
                AllocationDevice::CPU,
                0,
                AllocatorType::Device,
                MemoryType::Default,
            )?;
            binding.bind_output_to_device(&self.io.logits, &memory)?;
            binding.bind_output_to_device(&self.io.knn_key, &memory)?;
            let outputs = self
                .session
                .run_binding_with_options(&binding, &self.run_options)?;
            let result = read_outputs(io, vocab_size, key_dim, &outputs, new, kept, read)?;
            return Ok((result, None));
        }

        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            (self.io.input_ids.as_str().into(), ids.into()),
            (self.io.position_ids.as_str().into(), positions.into()),
            (self.io.logits_to_keep.as_str().into(), kept_input.into()),
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
        let result = read_outputs(io, vocab_size, key_dim, &outputs, new, kept, read)?;
        let mut present = Vec::with_capacity(self.io.present.len());
        for (key, value) in &self.io.present {
            let mut take = |name: &str| {
                outputs
                    .remove(name)
                    .expect("output names were checked at load")
            };
            present.push((take(key), take(value)));
        }
        Ok((result, Some(present)))
    }

    /// Makes `cache`'s tensors hold at least `needed` positions, for writing in place: new
    /// tensors with the cached positions copied over.
    fn reserve(&self, cache: &mut KvCache, needed: usize) -> Result<(), LmError> {
        if cache.in_place && !cache.layers.is_empty() && cache.capacity >= needed {
            return Ok(());
        }
        let len = cache.tokens.len();
        // Appending a few tokens at a time (typing) grows by half, so that copies are rare; a
        // longer run gets about what it needs, so that kept contexts hold little spare room.
        let wanted = if needed - len < 16 {
            needed.max(cache.capacity + cache.capacity / 2)
        } else {
            needed
        };
        let capacity = wanted
            .next_multiple_of(16)
            .min(self.max_positions)
            .max(needed);
        let shape = [1, self.num_kv_heads, capacity, self.head_dim];
        let layers = if cache.layers.is_empty() {
            let zeroed = || -> Result<DynValue, LmError> {
                Ok(Tensor::<f32>::new(&Allocator::default(), shape)?.into_dyn())
            };
            (0..self.io.past.len())
                .map(|_| Ok((zeroed()?, zeroed()?)))
                .collect::<Result<Vec<_>, LmError>>()?
        } else {
            cache
                .layers
                .iter()
                .map(|(key, value)| {
                    Ok((
                        copy_positions(key, len, capacity)?,
                        copy_positions(value, len, capacity)?,
                    ))
                })
                .collect::<Result<Vec<_>, LmError>>()?
        };
        cache.layers = layers;
        cache.capacity = capacity;
        cache.in_place = true;
        Ok(())
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

/// Checks the shapes of a run's logits and keys and hands them to `read`.
fn read_outputs<R>(
    io: &IoNames,
    vocab_size: usize,
    key_dim: usize,
    outputs: &SessionOutputs<'_>,
    new: usize,
    kept: usize,
    read: impl FnOnce(RunOutput<'_>) -> R,
) -> Result<R, LmError> {
    let logits = extract(
        &outputs[io.logits.as_str()],
        &io.logits,
        [1, kept, vocab_size],
    )?;
    let knn_keys = extract(
        &outputs[io.knn_key.as_str()],
        &io.knn_key,
        [1, new, key_dim],
    )?;
    Ok(read(RunOutput {
        logits,
        kept,
        knn_keys,
    }))
}

/// A new [1, heads, `capacity`, head_dim] tensor, zeroed, holding the first `len` positions
/// of `source` (at least `len` positions long). Made by ONNX Runtime's allocator, so that a
/// run can write into it in place.
fn copy_positions(source: &DynValue, len: usize, capacity: usize) -> Result<DynValue, LmError> {
    let (shape, data) = source.try_extract_tensor::<f32>()?;
    let [1, heads, source_capacity, head_dim] = **shape else {
        return Err(LmError::UnexpectedOutput {
            name: "past key/value".to_string(),
            actual: shape.to_vec(),
            expected: vec![1, -1, -1, -1],
        });
    };
    let (heads, source_capacity, head_dim) =
        (heads as usize, source_capacity as usize, head_dim as usize);
    let mut copy = Tensor::<f32>::new(&Allocator::default(), [1, heads, capacity, head_dim])?;
    let (_, target) = copy.try_extract_tensor_mut::<f32>()?;
    let row = len.min(source_capacity).min(capacity) * head_dim;
    for head in 0..heads {
        let from = head * source_capacity * head_dim;
        let to = head * capacity * head_dim;
        target[to..to + row].copy_from_slice(&data[from..from + row]);
    }
    Ok(copy.into_dyn())
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
