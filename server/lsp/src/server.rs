//! The tower-lsp-server backend: capabilities, document sync, configuration, and dispatch of each
//! request to its handler off the async runtime. Shared state lives in [`State`]; work the
//! server does on its own in [`crate::background`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::background::{
    diagnostics::diagnostics_loop, indexing, model::load_assistant, soft_fail,
};
use crate::documents::Snapshot;
use crate::handlers::status::Status;
use crate::handlers::{code_action, completion, hover, DocumentRequest};
use crate::protocol::{self, IgnoreArguments, IGNORE_HERE, IGNORE_IN_WORKSPACE, REINDEX};
use crate::state::{AssistantSlot, State};
use crate::{text, transport};

/// How `precedent serve` was started.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// `--model`: overrides the `modelPath` setting and the installed default.
    pub model_dir: Option<PathBuf>,
    /// ONNX Runtime threads per model run.
    pub threads: usize,
}

/// Serves LSP on stdin/stdout until the client exits or its input ends.
pub async fn serve_stdio(options: ServeOptions) -> transport::Ending {
    serve(tokio::io::stdin(), tokio::io::stdout(), options).await
}

/// Serves LSP on any byte streams (stdio, or a duplex stream in tests) until the client
/// exits or its input ends.
pub async fn serve(
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
    options: ServeOptions,
) -> transport::Ending {
    let (service, socket) = LspService::build(|client| Backend::new(client, options))
        .custom_method(protocol::STATUS, Backend::status)
        .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
        .finish();
    transport::run(input, output, |input, output| {
        Server::new(input, output, socket).serve(service)
    })
    .await
}

/// How long completion and hover wait for the model while it loads before they are refused
/// with "still loading" (the default model loads in about a second from a warm disk).
const MODEL_LOAD_WAIT: Duration = Duration::from_secs(30);

pub struct Backend {
    state: Arc<State>,
}

impl Backend {
    fn new(client: Client, options: ServeOptions) -> Backend {
        let (queue, inbox) = mpsc::unbounded_channel();
        let state = Arc::new(State::new(client, options, queue));
        tokio::spawn(diagnostics_loop(state.clone(), inbox));
        Backend { state }
    }

    /// Takes no params (tower-lsp-server then accepts a request without a `params` member, as
    /// VS Code and Neovim send it).
    async fn status(&self) -> Result<Status> {
        Ok(self.state.status())
    }

    /// textDocument/inlineCompletion (LSP 3.18, not yet a method of tower-lsp-server's
    /// `LanguageServer`): ghost text, from the same completions as the menu.
    async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> Result<Option<InlineCompletionResponse>> {
        self.wait_for_model().await?;
        let position = params.text_document_position;
        Ok(self
            .with_document(&position.text_document.uri, move |request| {
                completion::inline_completion(request, position.position)
            })
            .await)
    }
}

fn roots_of(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(folders) = &params.workspace_folders {
        return folders
            .iter()
            .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
    }
    #[allow(
        deprecated,
        reason = "root_uri is deprecated, but some clients send only it"
    )]
    params
        .root_uri
        .as_ref()
        .and_then(|u| u.to_file_path().map(|p| p.into_owned()))
        .into_iter()
        .collect()
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        *self.state.capabilities.write().unwrap() = params.capabilities.clone();
        {
            let mut store = self.state.settings.write().unwrap();
            let mut problems = store.set_roots(roots_of(&params));
            if let Some(options) = &params.initialization_options {
                problems.extend(store.set_client(options));
            }
            self.state.log_problems(problems);
        }
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "precedent".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            capabilities: capabilities(),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let state = self.state.clone();
        tokio::spawn(async move {
            load_assistant(&state).await;
            state.register_watchers().await;
            if state.assistant().is_some() && !state.corpus_jobs().is_empty() {
                indexing::start(state.clone());
            }
        });
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let document = params.text_document;
        let snapshot = Snapshot::new(
            document.uri.clone(),
            document.language_id,
            document.version,
            document.text,
            None,
        );
        self.state
            .documents
            .insert(document.uri.clone(), Arc::new(snapshot));
        self.state.queue_diagnostics(&document.uri);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let Some(previous) = self.state.documents.get(&uri).map(|d| d.clone()) else {
            return;
        };
        let mut text = previous.text().to_string();
        let last_edit = text::apply_changes(&mut text, params.content_changes);
        let snapshot = Snapshot::new(
            uri.clone(),
            previous.language_id.clone(),
            params.text_document.version,
            text,
            last_edit,
        );
        self.state.documents.insert(uri.clone(), Arc::new(snapshot));
        self.state.queue_diagnostics(&uri);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state.documents.remove(&uri);
        if let Some(assistant) = self.state.assistant() {
            assistant.forget(uri.as_str());
        }
        self.state
            .client
            .publish_diagnostics(uri, Vec::new(), None)
            .await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let settings = params.settings;
        let empty = settings.is_null() || settings.as_object().is_some_and(|o| o.is_empty());
        if empty && self.state.supports_configuration_request() {
            // Asked in a task of its own: tower-lsp-server reads the client's messages in order, and
            // a handler waiting for an answer can hold up the reading of that very answer.
            let state = self.state.clone();
            tokio::spawn(async move {
                let items = vec![ConfigurationItem {
                    scope_uri: None,
                    section: Some("precedent".to_string()),
                }];
                if let Ok(mut values) = state.client.configuration(items).await {
                    // A client with no "precedent" section answers null (Eglot does): the
                    // settings it gave at initialization stay.
                    let settings = values.pop().unwrap_or(Value::Null);
                    if !settings.is_null() {
                        let problems = state.settings.write().unwrap().set_client(&settings);
                        state.log_problems(problems);
                    }
                    settings_changed(&state).await;
                }
            });
            return;
        }
        if empty {
            // Nothing said (and nothing to ask): keep the client's settings as they are.
            self.settings_changed().await;
            return;
        }
        let problems = self.state.settings.write().unwrap().set_client(&settings);
        self.state.log_problems(problems);
        self.settings_changed().await;
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let problems = {
            let mut store = self.state.settings.write().unwrap();
            let mut roots: Vec<PathBuf> = store.roots().to_vec();
            for removed in params.event.removed {
                if let Some(path) = removed.uri.to_file_path() {
                    roots.retain(|r| *r != path);
                }
            }
            roots.extend(
                params
                    .event
                    .added
                    .iter()
                    .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned())),
            );
            store.set_roots(roots)
        };
        self.state.log_problems(problems);
        self.settings_changed().await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        self.refresh_indexes().await;
        let paths: Vec<PathBuf> = params
            .changes
            .iter()
            .filter_map(|c| c.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
        if paths
            .iter()
            .any(|p| p.ends_with(crate::config::WORKSPACE_FILE))
        {
            let problems = self
                .state
                .settings
                .write()
                .unwrap()
                .reload_workspace_files();
            self.state.log_problems(problems);
            self.settings_changed().await;
            return;
        }
        let corpus_changed = self.state.corpus_jobs().iter().any(|job| {
            paths
                .iter()
                .any(|p| job.folders.iter().any(|f| p.starts_with(f)))
        });
        if corpus_changed && self.state.assistant().is_some() {
            indexing::start(self.state.clone());
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        self.wait_for_model().await?;
        let position = params.text_document_position;
        let list = self
            .with_document(&position.text_document.uri, move |request| {
                completion::completion(request, position.position)
            })
            .await;
        Ok(list.map(CompletionResponse::List))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        self.wait_for_model().await?;
        let position = params.text_document_position_params;
        Ok(self
            .with_document(&position.text_document.uri, move |request| {
                hover::hover(request, position.position)
            })
            .await)
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let actions = code_action::code_actions(&params);
        Ok((!actions.is_empty()).then_some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let argument = params.arguments.first().cloned().unwrap_or(Value::Null);
        match params.command.as_str() {
            REINDEX => {
                self.refresh_indexes().await;
                if self.state.corpus_jobs().is_empty() {
                    self.state
                        .client
                        .show_message(
                            MessageType::INFO,
                            "precedent: no corpus folders are configured (setting `corpus`); nothing to index (the files of `indexPaths` were checked for a rebuild).",
                        )
                        .await;
                } else if self.state.assistant().is_some() {
                    indexing::start(self.state.clone());
                }
            }
            IGNORE_HERE | IGNORE_IN_WORKSPACE => {
                let IgnoreArguments {
                    uri,
                    word,
                    sentence_fingerprint,
                } = match serde_json::from_value(argument) {
                    Ok(arguments) => arguments,
                    Err(error) => {
                        tracing::warn!(command = %params.command, %error, "bad arguments");
                        return Ok(None);
                    }
                };
                let path = uri
                    .parse::<Uri>()
                    .ok()
                    .and_then(|u| u.to_file_path().map(|p| p.into_owned()));
                let saved = self.state.with_ignores(path.as_deref(), |ignores| {
                    if params.command == IGNORE_HERE {
                        let fingerprint = sentence_fingerprint.unwrap_or_default();
                        ignores.ignore_here(&uri, &word, &fingerprint);
                    } else {
                        ignores.ignore_in_workspace(&word);
                    }
                    ignores.save()
                });
                if let Err(error) = saved {
                    tracing::warn!(%error, "could not save the ignored words");
                }
                self.state.queue_all_diagnostics();
            }
            other => tracing::warn!(command = other, "unknown command"),
        }
        Ok(None)
    }
}

impl Backend {
    /// Waits while the model loads (at most [`MODEL_LOAD_WAIT`]), so that an editor asking
    /// right after it attached gets its answer; after that, the client is told it is loading.
    async fn wait_for_model(&self) -> Result<()> {
        let mut slot = self.state.assistant.subscribe();
        let settled = slot.wait_for(|slot| !matches!(slot, AssistantSlot::Loading));
        let loaded = tokio::time::timeout(MODEL_LOAD_WAIT, settled).await.is_ok();
        if loaded {
            return Ok(());
        }
        Err(Error {
            code: ErrorCode::ServerError(-32803), // LSP's RequestFailed
            message: format!(
                "precedent: the language model is still loading ({} s so far)",
                MODEL_LOAD_WAIT.as_secs()
            )
            .into(),
            data: None,
        })
    }

    /// Runs `work` on the current version of `uri` off the async runtime; `None` when the
    /// document is unknown, not served, the model is not loaded or `work` failed (logged).
    async fn with_document<T: Send + 'static>(
        &self,
        uri: &Uri,
        work: impl FnOnce(&DocumentRequest) -> Option<T> + Send + 'static,
    ) -> Option<T> {
        let snapshot = self.state.documents.get(uri).map(|d| d.clone())?;
        let state = self.state.clone();
        let result = tokio::task::spawn_blocking(move || {
            let (assistant, settings, corpora) = state.serving(&snapshot)?;
            let (uri, version) = (snapshot.uri.clone(), snapshot.version());
            let watcher = state.clone();
            let request = DocumentRequest {
                assistant,
                snapshot,
                settings,
                corpora,
                is_current: Box::new(move || watcher.is_current(&uri, version)),
            };
            work(&request)
        })
        .await;
        soft_fail(result).flatten()
    }

    async fn refresh_indexes(&self) {
        refresh_indexes(&self.state).await;
    }

    async fn settings_changed(&self) {
        settings_changed(&self.state).await;
    }
}

/// Reloads the indexes whose files were replaced, off the async runtime.
async fn refresh_indexes(state: &Arc<State>) {
    let state = state.clone();
    soft_fail(tokio::task::spawn_blocking(move || state.refresh_indexes()).await);
}

async fn settings_changed(state: &Arc<State>) {
    refresh_indexes(state).await;
    // Not waited for, like every request to the client from a handler (see
    // did_change_configuration).
    let registering = state.clone();
    tokio::spawn(async move { registering.register_watchers().await });
    state.queue_all_diagnostics();
    state.notify_status().await;
    if state.assistant().is_some() && !state.corpus_jobs().is_empty() {
        indexing::start(state.clone());
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..TextDocumentSyncOptions::default()
            },
        )),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![" ".to_string()]),
            resolve_provider: Some(false),
            ..CompletionOptions::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        inline_completion_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: protocol::COMMANDS.map(str::to_string).to_vec(),
            ..ExecuteCommandOptions::default()
        }),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        ..ServerCapabilities::default()
    }
}
