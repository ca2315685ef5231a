//! Loading ONNX Runtime and the language model once the client has initialized.

use std::sync::Arc;
use std::time::SystemTime;

use precedent_engine::assist::Assistant;
use precedent_engine::lm::{LanguageModel, SessionOptions};
use precedent_engine::runtime;
use tower_lsp_server::ls_types::MessageType;

use crate::state::{AssistantSlot, State};

/// Loads ONNX Runtime and the model off the runtime; a failure is shown once and the
/// server goes on answering (with nothing).
pub async fn load_assistant(state: &Arc<State>) {
    let model_dir = state
        .options
        .model_dir
        .clone()
        .or_else(|| state.settings_for(None).model_path.clone());
    let threads = state.options.threads.max(1);
    let data_dir = state.data_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<LanguageModel, String> {
        let runtime = runtime::init().map_err(|e| e.to_string())?;
        let dir = match model_dir {
            Some(dir) => dir,
            None => data_dir
                .ok_or("no data directory (set PRECEDENT_HOME)")?
                .default_model_dir(),
        };
        LanguageModel::load(
            &runtime,
            &dir,
            SessionOptions {
                intra_threads: threads,
                ..SessionOptions::default()
            },
        )
        .map_err(|e| e.to_string())
    })
    .await;
    let slot = match loaded {
        Ok(Ok(model)) => {
            // Decode the vocabulary now rather than on the first keystroke.
            let warm = model.clone();
            tokio::task::spawn_blocking(move || warm.tokenizer().token_texts().len());
            AssistantSlot::Ready(Arc::new(Assistant::new(model)))
        }
        Ok(Err(error)) => AssistantSlot::Failed(error),
        Err(error) => AssistantSlot::Failed(error.to_string()),
    };
    if let AssistantSlot::Failed(error) = &slot {
        state.show_once(
            MessageType::ERROR,
            format!("precedent: cannot load the language model: {error}"),
        );
    }
    state.assistant.send_replace(slot);
    *state.last_update.lock().unwrap() = Some(SystemTime::now());
    state.notify_status().await;
    state.queue_all_diagnostics();
}
