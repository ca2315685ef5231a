//! Background indexing of the corpus folders named in the settings, with progress in the
//! editor (window/workDoneProgress). The index is replaced atomically when done, then the
//! server switches to it; until then the previous index keeps serving.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use precedent_engine::indexer::{self, IndexOptions, IndexProgress};
use precedent_engine::lm::{LanguageModel, SessionOptions};
use precedent_engine::runtime;
use tokio::sync::mpsc;
use tower_lsp_server::ls_types::notification::Progress;
use tower_lsp_server::ls_types::request::WorkDoneProgressCreate;
use tower_lsp_server::ls_types::*;

use crate::state::{CorpusJob, State};

/// Starts indexing every configured corpus unless a run is going on (then the change will
/// be picked up by the next `reindex` or file change).
pub fn start(state: Arc<State>) {
    if state.indexing.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(async move {
        state.notify_status().await;
        for job in state.corpus_jobs() {
            run(&state, job).await;
        }
        state.indexing.store(false, Ordering::SeqCst);
        state.notify_status().await;
    });
}

async fn run(state: &Arc<State>, job: CorpusJob) {
    let token = NumberOrString::String(format!("precedent/indexing/{}", job.out.display()));
    let progress = state.supports_progress()
        && state
            .client
            .send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams {
                token: token.clone(),
            })
            .await
            .is_ok();
    let report = |value: WorkDoneProgress| {
        let client = state.client.clone();
        let token = token.clone();
        async move {
            if progress {
                client
                    .send_notification::<Progress>(ProgressParams {
                        token,
                        value: ProgressParamsValue::WorkDone(value),
                    })
                    .await;
            }
        }
    };
    report(WorkDoneProgress::Begin(WorkDoneProgressBegin {
        title: "precedent: indexing corpus".to_string(),
        cancellable: Some(false),
        message: Some(format!("reading {} folder(s)", job.folders.len())),
        percentage: Some(0),
    }))
    .await;

    let (updates, mut inbox) = mpsc::unbounded_channel::<(String, u32)>();
    let model_dir = state
        .assistant()
        .map(|assistant| assistant.model().dir().to_path_buf());
    let work = job.clone();
    let indexing = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let model_dir = model_dir.ok_or("the model is not loaded")?;
        // A model of its own, so that indexing never queues in front of the writer's requests.
        let runtime = runtime::init().map_err(|e| e.to_string())?;
        let model = LanguageModel::load(
            &runtime,
            &model_dir,
            SessionOptions {
                intra_threads: 1,
                ..SessionOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        if let Some(parent) = work.out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut last = Instant::now();
        let mut on_progress = |event: IndexProgress| {
            let (message, percentage) = match event {
                IndexProgress::CorpusRead { documents, tokens } => {
                    (format!("{documents} documents, {tokens} tokens"), 0)
                }
                IndexProgress::Encoding {
                    tokens_done,
                    tokens_total,
                } => (
                    format!("{tokens_done} / {tokens_total} tokens"),
                    (90 * tokens_done / tokens_total.max(1)) as u32,
                ),
                IndexProgress::Graph { done, total } => (
                    format!("search graph {done} / {total}"),
                    90 + (10 * done / total.max(1)) as u32,
                ),
            };
            if last.elapsed().as_millis() >= 250 {
                last = Instant::now();
                let _ = updates.send((message, percentage));
            }
        };
        let report = indexer::build_index(
            &model,
            &work.folders,
            &work.out,
            &IndexOptions::default(),
            &mut on_progress,
        )
        .map_err(|e| e.to_string())?;
        for warning in &report.warnings {
            tracing::warn!("{warning}");
        }
        Ok(format!(
            "{} documents ({} unchanged), {} entries",
            report.documents, report.reused_documents, report.entries
        ))
    });
    let forward = async {
        while let Some((message, percentage)) = inbox.recv().await {
            report(WorkDoneProgress::Report(WorkDoneProgressReport {
                cancellable: Some(false),
                message: Some(message),
                percentage: Some(percentage.min(100)),
            }))
            .await;
        }
    };
    let (result, ()) = tokio::join!(indexing, forward);
    let message = match result {
        Ok(Ok(summary)) => {
            // The new file is seen as a replacement: swapped in, or reported if it cannot be.
            state.refresh_indexes();
            *state.last_update.lock().unwrap() = Some(SystemTime::now());
            state.queue_all_diagnostics();
            tracing::info!(index = %job.out.display(), "{summary}");
            summary
        }
        Ok(Err(error)) => {
            let message = format!("precedent: indexing {} failed: {error}", job.out.display());
            state.show_once(MessageType::WARNING, message.clone());
            message
        }
        Err(error) => format!("precedent: indexing stopped: {error}"),
    };
    report(WorkDoneProgress::End(WorkDoneProgressEnd {
        message: Some(message),
    }))
    .await;
}
