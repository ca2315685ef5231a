//! Hints published as documents change: one document at a time, newest text only.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tower_lsp_server::ls_types::Uri;

use super::soft_fail;
use crate::handlers::diagnostics;
use crate::state::State;

/// Publishes hints for documents as they change, one document at a time, newest text only.
pub async fn diagnostics_loop(state: Arc<State>, mut inbox: mpsc::UnboundedReceiver<Uri>) {
    while let Some(first) = inbox.recv().await {
        // Let the notifications of one editor action (they come within a few ms) settle into
        // one run. Typing is slower than this; a run for an outdated version stops at its
        // next model call, and a keystroke's completion interrupts its model call.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut pending = vec![first];
        while let Ok(uri) = inbox.try_recv() {
            if !pending.contains(&uri) {
                pending.push(uri);
            }
        }
        for uri in pending {
            let Some(snapshot) = state.documents.get(&uri).map(|d| d.clone()) else {
                continue;
            };
            let worker = state.clone();
            let run = snapshot.clone();
            let result = tokio::task::spawn_blocking(move || {
                // No model yet: nothing to publish; it is queued again once the model loads.
                worker.assistant()?;
                let Some((assistant, settings, corpora)) = worker.serving(&run) else {
                    return Some(Vec::new());
                };
                let path = run.path();
                let cancelled = || !worker.is_current(&run.uri, run.version());
                let ignores = worker.with_ignores(path.as_deref(), |ignores| ignores.clone());
                let tags = worker.diagnostic_tags();
                diagnostics::diagnostics(
                    &assistant, &run, &settings, &corpora, &ignores, &tags, &cancelled,
                )
            })
            .await;
            let Some(Some(diagnostics)) = soft_fail(result) else {
                continue; // cancelled: the newer version is queued already
            };
            if state.is_current(&uri, snapshot.version()) {
                state
                    .client
                    .publish_diagnostics(uri, diagnostics, Some(snapshot.version()))
                    .await;
            }
        }
    }
}
