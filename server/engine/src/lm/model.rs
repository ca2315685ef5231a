//! [`LanguageModel`]: a cloneable handle to a model whose session lives on its own thread.
//!
//! `Session::run` needs `&mut self` and blocks for milliseconds to seconds, so one worker
//! thread owns the session and all KV caches; handles send it requests over a channel and
//! wait for the reply. Calls block: from async code, call them inside `spawn_blocking`.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};

use super::error::LmError;
use super::manifest::Manifest;
use super::scoring::{argmax, log_softmax, log_sum_exp, plan_windows, PositionScore};
use super::session::{Interrupter, KvCache, ModelSession, SessionOptions};
use super::tokenizer::TextTokenizer;
use crate::runtime::Runtime;

/// Cloneable, `Send + Sync` handle to a loaded model. The worker thread stops when the last
/// handle (and the last [`Context`]) is dropped.
#[derive(Clone)]
pub struct LanguageModel {
    shared: Arc<Shared>,
}

struct Shared {
    requests: Arc<RequestQueue>,
    manifest: Manifest,
    tokenizer: TextTokenizer,
    dir: PathBuf,
    next_context: AtomicU64,
}

/// Result of running a token sequence in a [`Context`].
#[derive(Debug, Clone)]
pub struct Forward {
    /// Positions actually run; those before `new_positions.start` came from the KV cache.
    pub new_positions: Range<usize>,
    /// Logits of the last `kept` positions, row-major [kept, vocab_size].
    pub logits: Vec<f32>,
    pub kept: usize,
    /// kNN keys of every new position, row-major [new, key_dim].
    pub knn_keys: Vec<f32>,
    pub vocab_size: usize,
    pub key_dim: usize,
}

impl Forward {
    /// Logits predicting the token after `position` (one of the last `kept` positions).
    pub fn logits_at(&self, position: usize) -> Option<&[f32]> {
        let first_kept = self.new_positions.end - self.kept;
        let row = position
            .checked_sub(first_kept)
            .filter(|&row| row < self.kept)?;
        Some(&self.logits[row * self.vocab_size..(row + 1) * self.vocab_size])
    }

    /// kNN key of the context ending at `position` (a new position).
    pub fn key_at(&self, position: usize) -> Option<&[f32]> {
        let row = position
            .checked_sub(self.new_positions.start)
            .filter(|_| position < self.new_positions.end)?;
        Some(&self.knn_keys[row * self.key_dim..(row + 1) * self.key_dim])
    }
}

/// The model's prediction for the token after a context.
#[derive(Debug, Clone)]
pub struct NextToken {
    /// Natural-log probabilities over the whole vocabulary.
    pub log_probs: Vec<f32>,
    /// kNN key of the context (docs/method.md: f(c)).
    pub knn_key: Vec<f32>,
}

impl NextToken {
    /// The `n` most probable tokens, most probable first, as (id, log probability).
    pub fn top(&self, n: usize) -> Vec<(u32, f32)> {
        let mut ranked: Vec<(u32, f32)> = self
            .log_probs
            .iter()
            .enumerate()
            .map(|(id, &lp)| (id as u32, lp))
            .collect();
        let n = n.min(ranked.len());
        if n == 0 {
            return Vec::new();
        }
        ranked.select_nth_unstable_by(n - 1, |a, b| b.1.total_cmp(&a.1));
        ranked.truncate(n);
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

/// How [`LanguageModel::score_tokens`] runs a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreOptions {
    /// Longest context of one window; `None` = the model's `max_positions`.
    pub window: Option<usize>,
    /// How far consecutive windows advance; `None` = half the window.
    pub stride: Option<usize>,
    /// Positions per forward pass inside a window (bounds the logits buffer:
    /// chunk × vocab floats); the KV cache carries the context across chunks.
    pub chunk: usize,
    /// Also return the kNN key of each scored position's context.
    pub keys: bool,
    /// Also return the `top_n` most probable tokens of each position (see [`Scores::top`]).
    pub top_n: usize,
    /// Compute logits (and so log-probabilities). Without them only keys are returned
    /// (`positions` still lists the targets, with NaN log-probabilities), which saves the
    /// LM head's work when building a datastore.
    pub logits: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            window: None,
            stride: None,
            chunk: 256,
            keys: false,
            top_n: 0,
            logits: true,
        }
    }
}

/// Per-position scores of a token sequence.
#[derive(Debug, Clone)]
pub struct Scores {
    /// The scored sequence (after tokenization, BOS included if the model adds one).
    pub tokens: Vec<u32>,
    /// One entry per position 1..tokens.len(), in order.
    pub positions: Vec<PositionScore>,
    /// With [`ScoreOptions::keys`]: row `i` is the key of the context predicting
    /// `positions[i]` — exactly a kNN-LM datastore entry (key, value = its token).
    pub keys: Option<Vec<f32>>,
    pub key_dim: usize,
    /// With [`ScoreOptions::top_n`]: (token, ln p) of the most probable tokens of each
    /// position, most probable first, `top_n` per position.
    pub top: Vec<(u32, f32)>,
    pub top_n: usize,
}

impl Scores {
    /// exp(−mean log p) over the scored positions; `None` when nothing was scored.
    pub fn perplexity(&self) -> Option<f64> {
        if self.positions.is_empty() {
            return None;
        }
        let total: f64 = self.positions.iter().map(|p| p.logprob).sum();
        Some((-total / self.positions.len() as f64).exp())
    }

    /// The most probable tokens at `positions[row]`, when requested.
    pub fn top_at(&self, row: usize) -> &[(u32, f32)] {
        let n = self.top_n;
        self.top.get(row * n..(row + 1) * n).unwrap_or(&[])
    }

    /// Key of the context predicting `positions[row]`, when keys were requested.
    pub fn key(&self, row: usize) -> Option<&[f32]> {
        self.keys
            .as_ref()
            .map(|keys| &keys[row * self.key_dim..(row + 1) * self.key_dim])
    }
}

/// A KV cache kept by the worker between calls. Running a token sequence that extends the
/// previous one (the typing case) runs only the new tokens. Dropping it frees the cache.
pub struct Context {
    model: LanguageModel,
    id: u64,
    urgent: bool,
}

enum Request {
    Forward {
        context: u64,
        tokens: Vec<u32>,
        /// Run every position from here on even if the cache holds it.
        rerun_from: usize,
        logits_to_keep: usize,
        reply: Sender<Result<Forward, LmError>>,
    },
    Branch {
        context: u64,
        tokens: Vec<u32>,
        branch_from: usize,
        logits_to_keep: usize,
        reply: Sender<Result<Forward, LmError>>,
    },
    NextToken {
        context: u64,
        tokens: Vec<u32>,
        reply: Sender<Result<NextToken, LmError>>,
    },
    Score {
        tokens: Vec<u32>,
        options: ScoreOptions,
        reply: Sender<Result<Scores, LmError>>,
    },
    Release {
        context: u64,
    },
}

impl LanguageModel {
    /// Loads the model in `model_dir` (manifest, tokenizer, ONNX session) and starts its worker.
    pub fn load(
        runtime: &Runtime,
        model_dir: &Path,
        options: SessionOptions,
    ) -> Result<LanguageModel, LmError> {
        let manifest = Manifest::read(model_dir)?;
        let tokenizer = TextTokenizer::from_file(&manifest.tokenizer_path(model_dir), &manifest)?;
        let session = ModelSession::open(runtime, model_dir, &manifest, options)?;
        let requests = Arc::new(RequestQueue::new(session.interrupter()));
        let inbox = requests.clone();
        std::thread::Builder::new()
            .name("precedent-lm".to_string())
            .spawn(move || serve(session, &inbox))
            .map_err(LmError::WorkerSpawn)?;
        tracing::info!(model = %manifest.name, dir = %model_dir.display(), "loaded language model");
        Ok(LanguageModel {
            shared: Arc::new(Shared {
                requests,
                manifest,
                tokenizer,
                dir: model_dir.to_path_buf(),
                next_context: AtomicU64::new(0),
            }),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.shared.manifest
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.shared.tokenizer
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// How many background model calls an interactive request has interrupted (each then
    /// ran again).
    pub fn interrupted_runs(&self) -> u64 {
        self.shared
            .requests
            .interrupted_runs
            .load(Ordering::Relaxed)
    }

    /// A new, empty KV cache on the worker.
    pub fn new_context(&self) -> Context {
        self.context_with_priority(false)
    }

    /// A KV cache whose requests the worker takes before those of ordinary contexts (an
    /// editor's keystrokes before background analysis): they wait at most for the model run
    /// in progress.
    pub fn new_interactive_context(&self) -> Context {
        self.context_with_priority(true)
    }

    fn context_with_priority(&self, urgent: bool) -> Context {
        let id = self.shared.next_context.fetch_add(1, Ordering::Relaxed);
        Context {
            model: self.clone(),
            id,
            urgent,
        }
    }

    /// Tokenizes `text` as the model does and scores every position after the first.
    pub fn score_text(&self, text: &str, options: ScoreOptions) -> Result<Scores, LmError> {
        let tokens = self.shared.tokenizer.encode(text)?;
        self.score_tokens(tokens, options)
    }

    /// Scores every position 1..tokens.len(): log p(token | tokens before) and the model's top
    /// choice. One window when the sequence fits, else sliding windows (see [`ScoreOptions`]).
    pub fn score_tokens(&self, tokens: Vec<u32>, options: ScoreOptions) -> Result<Scores, LmError> {
        self.ask(false, |reply| Request::Score {
            tokens,
            options,
            reply,
        })
    }

    fn ask<T>(
        &self,
        urgent: bool,
        request: impl FnOnce(Sender<Result<T, LmError>>) -> Request,
    ) -> Result<T, LmError> {
        let (reply, answer) = mpsc::channel();
        self.shared.requests.push(request(reply), urgent);
        answer.recv().map_err(|_| LmError::WorkerStopped)?
    }
}

impl Context {
    /// Runs `tokens` (the whole context, from its first token), reusing the cached prefix
    /// they share with the previous call. Returns logits for the last `logits_to_keep`
    /// positions and keys for every position that was run.
    pub fn forward(&self, tokens: &[u32], logits_to_keep: usize) -> Result<Forward, LmError> {
        self.forward_from(tokens, usize::MAX, logits_to_keep)
    }

    /// Like [`forward`](Self::forward), but positions from `rerun_from` on are run even if
    /// the cache holds them, so their logits and keys are returned.
    pub fn forward_from(
        &self,
        tokens: &[u32],
        rerun_from: usize,
        logits_to_keep: usize,
    ) -> Result<Forward, LmError> {
        let (context, tokens) = (self.id, tokens.to_vec());
        self.model.ask(self.urgent, |reply| Request::Forward {
            context,
            tokens,
            rerun_from,
            logits_to_keep,
            reply,
        })
    }

    /// Runs `tokens[branch_from..]` after `tokens[..branch_from]` and leaves the KV cache as
    /// it was, so that trying an alternative continuation (another word in a sentence) does
    /// not cost re-running what the cache held after `branch_from`. Only the cache's
    /// first `branch_from` tokens must match; if they do not, the cache is first moved to
    /// `tokens[..branch_from]`. Returns logits for the last `logits_to_keep` positions and
    /// keys for positions `branch_from..tokens.len()`.
    pub fn branch(
        &self,
        tokens: &[u32],
        branch_from: usize,
        logits_to_keep: usize,
    ) -> Result<Forward, LmError> {
        let (context, tokens) = (self.id, tokens.to_vec());
        self.model.ask(self.urgent, |reply| Request::Branch {
            context,
            tokens,
            branch_from,
            logits_to_keep,
            reply,
        })
    }

    /// The next-token distribution after `tokens` and the kNN key of that context.
    pub fn next_token(&self, tokens: &[u32]) -> Result<NextToken, LmError> {
        let (context, tokens) = (self.id, tokens.to_vec());
        self.model.ask(self.urgent, |reply| Request::NextToken {
            context,
            tokens,
            reply,
        })
    }

    pub fn model(&self) -> &LanguageModel {
        &self.model
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.model
            .shared
            .requests
            .push(Request::Release { context: self.id }, false);
    }
}

/// The worker loop: owns the session and the caches until every handle is dropped.
fn serve(mut session: ModelSession, inbox: &RequestQueue) {
    let mut contexts: HashMap<u64, KvCache> = HashMap::new();
    while let Some(request) = inbox.pop() {
        // A caller that stopped waiting is not an error: ignore failed replies.
        let interrupted = match &request {
            Request::Forward {
                context,
                tokens,
                rerun_from,
                logits_to_keep,
                reply,
            } => {
                let cache = contexts.entry(*context).or_default();
                let result =
                    forward_in_context(&mut session, cache, tokens, *rerun_from, *logits_to_keep);
                inbox.deliver(reply, result)
            }
            Request::Branch {
                context,
                tokens,
                branch_from,
                logits_to_keep,
                reply,
            } => {
                let cache = contexts.entry(*context).or_default();
                let result =
                    branch_in_context(&mut session, cache, tokens, *branch_from, *logits_to_keep);
                inbox.deliver(reply, result)
            }
            Request::NextToken {
                context,
                tokens,
                reply,
            } => {
                let cache = contexts.entry(*context).or_default();
                inbox.deliver(reply, next_token_in_context(&mut session, cache, tokens))
            }
            Request::Score {
                tokens,
                options,
                reply,
            } => inbox.deliver(reply, score(&mut session, tokens.clone(), *options)),
            Request::Release { context } => {
                contexts.remove(context);
                false
            }
        };
        if interrupted {
            inbox.retry(request);
        }
    }
    tracing::debug!("language model worker stopped");
}

/// The worker's inbox. Urgent requests (an editor's keystrokes) are taken first, and one
/// that arrives while an ordinary request runs interrupts that run: the ordinary request
/// goes back to the head of its queue and runs again once the urgent ones are served. A
/// keystroke so waits for one graph node, not for a whole background model call. Closed
/// when the last handle goes.
struct RequestQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
    interrupter: Interrupter,
    interrupted_runs: AtomicU64,
}

#[derive(Default)]
struct QueueState {
    urgent: VecDeque<Request>,
    normal: VecDeque<Request>,
    /// The request being served may be interrupted: an ordinary context's model call (not
    /// a Score run, whose restart would cost a whole text).
    running_interruptible: bool,
    /// An urgent request interrupted the request being served.
    interrupted: bool,
    closed: bool,
}

impl RequestQueue {
    fn new(interrupter: Interrupter) -> RequestQueue {
        RequestQueue {
            state: Mutex::default(),
            ready: Condvar::new(),
            interrupter,
            interrupted_runs: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, request: Request, urgent: bool) {
        let mut state = self.lock();
        if urgent {
            state.urgent.push_back(request);
            if state.running_interruptible && !state.interrupted {
                state.interrupted = true;
                self.interrupter.interrupt();
            }
        } else {
            state.normal.push_back(request);
        }
        self.ready.notify_one();
    }

    /// The next request, waiting for one; `None` once closed and drained.
    fn pop(&self) -> Option<Request> {
        let mut state = self.lock();
        loop {
            let next = match state.urgent.pop_front() {
                Some(request) => Some((request, false)),
                None => state.normal.pop_front().map(|request| {
                    let interruptible = matches!(
                        request,
                        Request::Forward { .. }
                            | Request::Branch { .. }
                            | Request::NextToken { .. }
                    );
                    (request, interruptible)
                }),
            };
            if let Some((request, interruptible)) = next {
                // Under the lock, so that no interrupt meant for an earlier run is lost
                // or hits this one.
                self.interrupter.reset();
                state.running_interruptible = interruptible;
                state.interrupted = false;
                return Some(request);
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Ends the request being served: sends `result`, unless the run failed because it was
    /// interrupted, in which case nothing is sent and `true` says to [`retry`](Self::retry).
    fn deliver<T>(&self, reply: &Sender<Result<T, LmError>>, result: Result<T, LmError>) -> bool {
        let interrupted = {
            let mut state = self.lock();
            state.running_interruptible = false;
            std::mem::take(&mut state.interrupted)
        };
        if interrupted && result.is_err() {
            self.interrupted_runs.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let _ = reply.send(result);
        false
    }

    /// Puts an interrupted request back at the head of its queue.
    fn retry(&self, request: Request) {
        self.lock().normal.push_front(request);
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle is gone: let the worker finish what is queued and stop.
        self.requests.close();
    }
}

/// Drops the cached tokens `tokens` does not share and runs the rest (at least the last
/// token, whose logits the caller wants).
fn extend_cache<R>(
    session: &mut ModelSession,
    cache: &mut KvCache,
    tokens: &[u32],
    rerun_from: usize,
    logits_to_keep: usize,
    read: impl FnOnce(super::session::RunOutput<'_>, Range<usize>) -> R,
) -> Result<R, LmError> {
    if tokens.is_empty() {
        return Err(LmError::EmptyInput);
    }
    let reused = cache
        .common_prefix(tokens)
        .min(tokens.len() - 1)
        .min(rerun_from);
    cache.truncate(reused)?;
    let new_positions = reused..tokens.len();
    session.forward(cache, &tokens[reused..], logits_to_keep, |output| {
        read(output, new_positions)
    })
}

fn forward_in_context(
    session: &mut ModelSession,
    cache: &mut KvCache,
    tokens: &[u32],
    rerun_from: usize,
    logits_to_keep: usize,
) -> Result<Forward, LmError> {
    let (vocab_size, key_dim) = (session.vocab_size(), session.key_dim());
    extend_cache(
        session,
        cache,
        tokens,
        rerun_from,
        logits_to_keep,
        |output, new_positions| Forward {
            new_positions,
            logits: output.logits.to_vec(),
            kept: output.kept,
            knn_keys: output.knn_keys.to_vec(),
            vocab_size,
            key_dim,
        },
    )
}

fn branch_in_context(
    session: &mut ModelSession,
    cache: &mut KvCache,
    tokens: &[u32],
    branch_from: usize,
    logits_to_keep: usize,
) -> Result<Forward, LmError> {
    if branch_from >= tokens.len() {
        return Err(LmError::EmptyInput);
    }
    if cache.common_prefix(&tokens[..branch_from]) < branch_from {
        extend_cache(
            session,
            cache,
            &tokens[..branch_from],
            usize::MAX,
            1,
            |_, _| (),
        )?;
    }
    let (vocab_size, key_dim) = (session.vocab_size(), session.key_dim());
    let read = |output: super::session::RunOutput<'_>| Forward {
        new_positions: branch_from..tokens.len(),
        logits: output.logits.to_vec(),
        kept: output.kept,
        knn_keys: output.knn_keys.to_vec(),
        vocab_size,
        key_dim,
    };
    let new_tokens = &tokens[branch_from..];
    if cache.len() == branch_from {
        session.branch(cache, new_tokens, logits_to_keep, read)
    } else {
        // The branch must not overwrite what the cache holds after `branch_from`.
        let mut prefix = cache.prefix(branch_from, new_tokens.len())?;
        session.branch(&mut prefix, new_tokens, logits_to_keep, read)
    }
}

fn next_token_in_context(
    session: &mut ModelSession,
    cache: &mut KvCache,
    tokens: &[u32],
) -> Result<NextToken, LmError> {
    let key_dim = session.key_dim();
    extend_cache(session, cache, tokens, usize::MAX, 1, |output, _| {
        NextToken {
            log_probs: log_softmax(output.logits),
            knn_key: output.knn_keys[output.knn_keys.len() - key_dim..].to_vec(),
        }
    })
}

fn score(
    session: &mut ModelSession,
    tokens: Vec<u32>,
    options: ScoreOptions,
) -> Result<Scores, LmError> {
    let window = options.window.unwrap_or(session.max_positions());
    let stride = options.stride.unwrap_or(window / 2);
    if window < 2 || window > session.max_positions() {
        return Err(LmError::InvalidOptions(format!(
            "the window must hold 2 to {} tokens, not {window}",
            session.max_positions()
        )));
    }
    if stride == 0 || stride >= window {
        return Err(LmError::InvalidOptions(format!(
            "the stride must be at least 1 and less than the window ({window}), not {stride}"
        )));
    }
    if options.chunk == 0 {
        return Err(LmError::InvalidOptions(
            "the chunk must hold at least 1 token".to_string(),
        ));
    }
    let (vocab_size, key_dim) = (session.vocab_size(), session.key_dim());
    let mut positions = Vec::with_capacity(tokens.len().saturating_sub(1));
    let mut keys = options.keys.then(Vec::new);
    let mut top = Vec::new();
    for window in plan_windows(tokens.len(), window, stride) {
        let mut cache = KvCache::default();
        let mut start = window.start;
        while start < window.end {
            let end = window.end.min(start + options.chunk);
            // Position p predicts target p + 1; only targets in first_target..window.end count.
            let first_needed = start.max(window.first_target - 1);
            let needed = end.saturating_sub(first_needed).max(1);
            let kept = if options.logits { needed } else { 1 };
            session.forward(&mut cache, &tokens[start..end], kept, |output| {
                for position in end - needed..end {
                    let target = position + 1;
                    if target < window.first_target || target >= window.end {
                        continue;
                    }
                    let token_id = tokens[target];
                    if options.logits {
                        let row = position - (end - kept);
                        let logits = &output.logits[row * vocab_size..(row + 1) * vocab_size];
                        let normaliser = log_sum_exp(logits);
                        positions.push(PositionScore {
                            index: target,
                            token_id,
                            logprob: f64::from(logits[token_id as usize]) - normaliser,
                            top1: argmax(logits),
                        });
                        top.extend(top_tokens(logits, options.top_n, normaliser));
                    } else {
                        positions.push(PositionScore {
                            index: target,
                            token_id,
                            logprob: f64::NAN,
                            top1: token_id,
                        });
                    }
                    if let Some(keys) = keys.as_mut() {
                        let key_row = position - start;
                        keys.extend_from_slice(
                            &output.knn_keys[key_row * key_dim..(key_row + 1) * key_dim],
                        );
                    }
                }
            })?;
            start = end;
        }
    }
    Ok(Scores {
        tokens,
        positions,
        keys,
        key_dim,
        top,
        top_n: options.top_n,
    })
}

/// The `n` largest logits as (token, ln p), most probable first.
fn top_tokens(logits: &[f32], n: usize, normaliser: f64) -> Vec<(u32, f32)> {
    if n == 0 {
        return Vec::new();
    }
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    let n = n.min(ids.len());
    ids.select_nth_unstable_by(n - 1, |&a, &b| {
        logits[b as usize].total_cmp(&logits[a as usize])
    });
    ids.truncate(n);
    ids.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    ids.into_iter()
        .map(|id| (id, (f64::from(logits[id as usize]) - normaliser) as f32))
        .collect()
}
