//! The tower-lsp backend: capabilities, document sync, configuration, and dispatch of each
//! request to its handler off the async runtime. Shared state lives in [`State`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use precedent_engine::lm::{LanguageModel, SessionOptions};
use precedent_engine::paths::DataDir;
use precedent_engine::runtime;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tower_lsp::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer, LspService, Server};

use crate::config::Settings;
use crate::documents::Snapshot;
use crate::handlers::code_action::{IGNORE_HERE, IGNORE_IN_WORKSPACE, REINDEX};
use crate::handlers::status::{rfc3339, IndexStatus, Status};
use crate::handlers::{code_action, completion, diagnostics, hover, DocumentRequest};
use crate::ignores::Ignores;
use crate::settings_store::SettingsStore;
use crate::{indexing, text, transport};
use precedent_engine::assist::{Assistant, Corpora, IndexNews};

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
    let (service, socket) = LspService::build(|client| Backend::new(client, options))
        .custom_method("precedent/status", Backend::status)
        .finish();
    transport::run(tokio::io::stdin(), tokio::io::stdout(), |input, output| {
        Server::new(input, output, socket).serve(service)
    })
    .await
}

/// How long completion and hover wait for the model while it loads before they are refused
/// with "still loading" (the default model loads in about a second from a warm disk).
const MODEL_LOAD_WAIT: Duration = Duration::from_secs(30);

pub enum AssistantSlot {
    Loading,
    Ready(Arc<Assistant>),
    Failed(String),
}

pub struct State {
    pub client: Client,
    options: ServeOptions,
    pub data_dir: Option<DataDir>,
    pub documents: DashMap<Url, Arc<Snapshot>>,
    pub settings: RwLock<SettingsStore>,
    /// Watched: requests that arrive while the model loads wait for it.
    pub assistant: watch::Sender<AssistantSlot>,
    ignores: Mutex<HashMap<Option<PathBuf>, Ignores>>,
    diagnostics_queue: mpsc::UnboundedSender<Url>,
    pub indexing: AtomicBool,
    pub last_update: Mutex<Option<SystemTime>>,
    shown: Mutex<HashSet<String>>,
    capabilities: RwLock<ClientCapabilities>,
    registering_watchers: tokio::sync::Mutex<()>,
}

pub struct Backend {
    state: Arc<State>,
}

impl Backend {
    fn new(client: Client, options: ServeOptions) -> Backend {
        let (queue, inbox) = mpsc::unbounded_channel();
        let data_dir = DataDir::from_env().ok();
        let state = Arc::new(State {
            client,
            options,
            data_dir,
            documents: DashMap::new(),
            settings: RwLock::new(SettingsStore::default()),
            assistant: watch::Sender::new(AssistantSlot::Loading),
            ignores: Mutex::new(HashMap::new()),
            diagnostics_queue: queue,
            indexing: AtomicBool::new(false),
            last_update: Mutex::new(None),
            shown: Mutex::new(HashSet::new()),
            capabilities: RwLock::new(ClientCapabilities::default()),
            registering_watchers: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(diagnostics_loop(state.clone(), inbox));
        Backend { state }
    }

    /// Takes no params (tower-lsp then accepts a request without a `params` member, as
    /// VS Code and Neovim send it).
    async fn status(&self) -> Result<Status> {
        Ok(self.state.status())
    }
}

impl State {
    pub fn assistant(&self) -> Option<Arc<Assistant>> {
        match &*self.assistant.borrow() {
            AssistantSlot::Ready(assistant) => Some(assistant.clone()),
            _ => None,
        }
    }

    pub fn settings_for(&self, path: Option<&Path>) -> Arc<Settings> {
        self.settings.read().unwrap().settings_for(path)
    }

    /// Where the server writes the index of the `corpus` folders of `root`'s settings.
    pub fn corpus_index_path(&self, settings: &Settings, root: Option<&Path>) -> Option<PathBuf> {
        if settings.corpus.is_empty() {
            return None;
        }
        if let Some(path) = &settings.corpus_index_path {
            return Some(path.clone());
        }
        let root_name = root.map(|r| r.display().to_string()).unwrap_or_default();
        let data_dir = self.data_dir.as_ref()?;
        Some(data_dir.root().join("indexes").join(format!(
            "{}.index",
            crate::ignores::sentence_fingerprint(&root_name)
        )))
    }

    /// Settings and corpora for a document; reports unusable indexes once.
    fn context_for(&self, snapshot: &Snapshot) -> Option<(Arc<Assistant>, Arc<Settings>, Corpora)> {
        let assistant = self.assistant()?;
        let path = snapshot.path();
        let (settings, root) = {
            let store = self.settings.read().unwrap();
            let settings = store.settings_for(path.as_deref());
            let root = store.root_of(path.as_deref()).map(Path::to_path_buf);
            (settings, root)
        };
        if !settings.applies_to(&snapshot.language_id, path.as_deref()) {
            return None;
        }
        let corpus_index = self.corpus_index_path(&settings, root.as_deref());
        let paths = index_paths(&settings, corpus_index.as_deref());
        let (corpora, news) = assistant.corpora(&paths, &settings.knn);
        self.tell(news);
        Some((assistant, settings, corpora))
    }

    /// Passes on what happened to the indexes: a reload updates the status and the hints; a
    /// problem is shown once.
    fn tell(&self, news: Vec<IndexNews>) {
        let mut reloaded = false;
        for event in news {
            match event {
                IndexNews::Reloaded(path) => {
                    tracing::info!(index = %path.display(), "index replaced; reloaded");
                    reloaded = true;
                }
                IndexNews::Problem {
                    error,
                    still_serving_since,
                } => {
                    let problem = match still_serving_since {
                        Some(loaded_at) => format!(
                            "{error}; still serving the index loaded from it at {}",
                            rfc3339(loaded_at)
                        ),
                        None => error,
                    };
                    self.show_once(MessageType::WARNING, format!("precedent: {problem}"));
                }
            }
        }
        if reloaded {
            *self.last_update.lock().unwrap() = Some(SystemTime::now());
            self.queue_all_diagnostics();
            let status = self.status();
            let client = self.client.clone();
            tokio::spawn(async move {
                client.send_notification::<StatusChanged>(status).await;
            });
        }
    }

    /// Looks at every index the settings name now, reloading any whose file was replaced.
    /// Indexes are also checked as they are used; this is for the events that say a file
    /// may have changed (reindex, watched files, settings).
    pub fn refresh_indexes(&self) {
        let Some(assistant) = self.assistant() else {
            return;
        };
        let store = self.settings.read().unwrap();
        let mut roots: Vec<Option<PathBuf>> = store.roots().iter().cloned().map(Some).collect();
        roots.push(None);
        let settings: Vec<(Arc<Settings>, Option<PathBuf>)> = roots
            .into_iter()
            .map(|root| match &root {
                Some(dir) => (store.settings_for_root(dir), root),
                None => (store.settings_for(None), None),
            })
            .collect();
        drop(store);
        for (settings, root) in settings {
            let corpus_index = self.corpus_index_path(&settings, root.as_deref());
            let paths = index_paths(&settings, corpus_index.as_deref());
            let (_, news) = assistant.corpora(&paths, &settings.knn);
            self.tell(news);
        }
    }

    /// Shows `message` in the editor the first time only (and always logs it).
    pub fn show_once(&self, kind: MessageType, message: String) {
        tracing::warn!("{message}");
        if self.shown.lock().unwrap().insert(message.clone()) {
            let client = self.client.clone();
            tokio::spawn(async move { client.show_message(kind, message).await });
        }
    }

    fn is_current(&self, uri: &Url, version: i32) -> bool {
        self.documents
            .get(uri)
            .is_some_and(|d| d.version() == version)
    }

    pub fn queue_diagnostics(&self, uri: &Url) {
        let _ = self.diagnostics_queue.send(uri.clone());
    }

    pub fn queue_all_diagnostics(&self) {
        for document in self.documents.iter() {
            self.queue_diagnostics(document.key());
        }
    }

    fn with_ignores<R>(&self, path: Option<&Path>, work: impl FnOnce(&mut Ignores) -> R) -> R {
        let root = self
            .settings
            .read()
            .unwrap()
            .root_of(path)
            .map(Path::to_path_buf);
        let mut all = self.ignores.lock().unwrap();
        let ignores = all
            .entry(root.clone())
            .or_insert_with(|| match &self.data_dir {
                Some(dir) => Ignores::load(dir.root(), root.as_deref()),
                None => Ignores::default(),
            });
        work(ignores)
    }

    pub fn status(&self) -> Status {
        let (model, model_error, assistant) = match &*self.assistant.borrow() {
            AssistantSlot::Loading => (None, None, None),
            AssistantSlot::Ready(assistant) => (
                Some(assistant.model_name().to_string()),
                None,
                Some(assistant.clone()),
            ),
            AssistantSlot::Failed(error) => (None, Some(error.clone()), None),
        };
        let settings = self.settings_for(None);
        let mut status = Status {
            model,
            model_error,
            indexing: self.indexing.load(Ordering::SeqCst),
            last_update: self.last_update.lock().unwrap().map(rfc3339),
            ..Status::default()
        };
        if let Some(assistant) = assistant {
            let root = self.settings.read().unwrap().roots().first().cloned();
            let corpus_index = self.corpus_index_path(&settings, root.as_deref());
            let paths = index_paths(&settings, corpus_index.as_deref());
            let (corpora, news) = assistant.corpora(&paths, &settings.knn);
            self.tell(news);
            status.indexes = corpora
                .indexes
                .iter()
                .map(|index| IndexStatus {
                    replacement_error: assistant.refused_replacement(&index.path),
                    ..IndexStatus::of(index)
                })
                .collect();
            let params = &corpora.params;
            status.k = Some(params.k);
            // f32 settings shown as the decimals they were written with (0.9, not 0.8999…).
            status.lambda = Some(shortest(params.lambda));
            status.temperature = Some(shortest(params.temperature));
            status.document_cache = Some(params.document_cache);
            status.document_cache_skip_recent = Some(params.cache_skip_recent);
        }
        status
    }

    pub async fn notify_status(&self) {
        let status = self.status();
        self.client.send_notification::<StatusChanged>(status).await;
    }

    pub fn supports_progress(&self) -> bool {
        self.capabilities
            .read()
            .unwrap()
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false)
    }

    fn supports_configuration_request(&self) -> bool {
        self.capabilities
            .read()
            .unwrap()
            .workspace
            .as_ref()
            .and_then(|w| w.configuration)
            .unwrap_or(false)
    }

    fn supports_watcher_registration(&self) -> bool {
        self.capabilities
            .read()
            .unwrap()
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false)
    }

    fn log_problems(&self, problems: Vec<String>) {
        for problem in problems {
            tracing::warn!("{problem}");
        }
    }

    /// The `indexPaths` of every root's settings (and of no root's).
    fn named_index_paths(&self) -> Vec<PathBuf> {
        let store = self.settings.read().unwrap();
        let mut paths = store.settings_for(None).index_paths.clone();
        for root in store.roots() {
            paths.extend(store.settings_for_root(root).index_paths.iter().cloned());
        }
        paths.sort();
        paths.dedup();
        paths
    }

    /// Every corpus folder in the settings of every root (or of no root).
    pub fn corpus_jobs(&self) -> Vec<indexing::CorpusJob> {
        let store = self.settings.read().unwrap();
        let mut roots: Vec<Option<PathBuf>> = store.roots().iter().cloned().map(Some).collect();
        if roots.is_empty() {
            roots.push(None);
        }
        let mut jobs: Vec<indexing::CorpusJob> = Vec::new();
        for root in roots {
            let settings = match &root {
                Some(root) => store.settings_for_root(root),
                None => store.settings_for(None),
            };
            let Some(out) = self.corpus_index_path(&settings, root.as_deref()) else {
                continue;
            };
            if !jobs.iter().any(|j| j.out == out) {
                jobs.push(indexing::CorpusJob {
                    folders: settings.corpus.clone(),
                    out,
                });
            }
        }
        jobs
    }

    async fn register_watchers(&self) {
        if !self.supports_watcher_registration() {
            return;
        }
        // One at a time: an unregistration must not fall between another's pair.
        let _registering = self.registering_watchers.lock().await;
        let mut watchers = vec![FileSystemWatcher {
            glob_pattern: GlobPattern::String(format!("**/{}", crate::config::WORKSPACE_FILE)),
            kind: None,
        }];
        for job in self.corpus_jobs() {
            for folder in job.folders {
                watchers.push(FileSystemWatcher {
                    glob_pattern: GlobPattern::String(format!("{}/**/*", folder.display())),
                    kind: None,
                });
            }
        }
        // A shared index rebuilt by `precedent index` is swapped in when it changes.
        for path in self.named_index_paths() {
            watchers.push(FileSystemWatcher {
                glob_pattern: GlobPattern::String(path.display().to_string()),
                kind: None,
            });
        }
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: "precedent-watchers".to_string(),
            method: "workspace/didChangeWatchedFiles".to_string(),
            register_options: serde_json::to_value(options).ok(),
        };
        let _ = self
            .client
            .unregister_capability(vec![Unregistration {
                id: registration.id.clone(),
                method: registration.method.clone(),
            }])
            .await;
        if let Err(error) = self.client.register_capability(vec![registration]).await {
            tracing::warn!(%error, "could not register file watchers");
        }
    }
}

/// An f32 as the f64 with the same shortest decimal form.
fn shortest(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// Server → client: the status changed.
pub enum StatusChanged {}

impl notification::Notification for StatusChanged {
    type Params = Status;
    const METHOD: &'static str = "precedent/statusChanged";
}

fn roots_of(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(folders) = &params.workspace_folders {
        return folders
            .iter()
            .filter_map(|f| f.uri.to_file_path().ok())
            .collect();
    }
    #[allow(
        deprecated,
        reason = "root_uri is deprecated, but some clients send only it"
    )]
    params
        .root_uri
        .as_ref()
        .and_then(|u| u.to_file_path().ok())
        .into_iter()
        .collect()
}

#[tower_lsp::async_trait]
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
            // Asked in a task of its own: tower-lsp reads the client's messages in order, and
            // a handler waiting for an answer can hold up the reading of that very answer.
            let state = self.state.clone();
            tokio::spawn(async move {
                let items = vec![ConfigurationItem {
                    scope_uri: None,
                    section: Some("precedent".to_string()),
                }];
                if let Ok(mut values) = state.client.configuration(items).await {
                    let settings = values.pop().unwrap_or(Value::Null);
                    let problems = state.settings.write().unwrap().set_client(&settings);
                    state.log_problems(problems);
                    settings_changed(&state).await;
                }
            });
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
                if let Ok(path) = removed.uri.to_file_path() {
                    roots.retain(|r| *r != path);
                }
            }
            roots.extend(
                params
                    .event
                    .added
                    .iter()
                    .filter_map(|f| f.uri.to_file_path().ok()),
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
            .filter_map(|c| c.uri.to_file_path().ok())
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
        let text = |key: &str| {
            argument
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
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
                let (Some(uri), Some(word)) = (text("uri"), text("word")) else {
                    tracing::warn!(command = %params.command, "missing arguments");
                    return Ok(None);
                };
                let path = Url::parse(&uri).ok().and_then(|u| u.to_file_path().ok());
                let saved = self.state.with_ignores(path.as_deref(), |ignores| {
                    if params.command == IGNORE_HERE {
                        ignores.ignore_here(&uri, &word, &text("sentence").unwrap_or_default());
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
        uri: &Url,
        work: impl FnOnce(&DocumentRequest) -> Option<T> + Send + 'static,
    ) -> Option<T> {
        let snapshot = self.state.documents.get(uri).map(|d| d.clone())?;
        let state = self.state.clone();
        let result = tokio::task::spawn_blocking(move || {
            let (assistant, settings, corpora) = state.context_for(&snapshot)?;
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

/// A panic in a handler becomes a logged error and an empty answer, never a crash.
fn soft_fail<T>(result: std::result::Result<T, tokio::task::JoinError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "handler failed");
            None
        }
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
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![
                REINDEX.to_string(),
                IGNORE_HERE.to_string(),
                IGNORE_IN_WORKSPACE.to_string(),
            ],
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

/// Loads ONNX Runtime and the model off the runtime; a failure is shown once and the
/// server goes on answering (with nothing).
async fn load_assistant(state: &Arc<State>) {
    let model_dir = state
        .options
        .model_dir
        .clone()
        .or_else(|| state.settings_for(None).model_path.clone());
    let threads = state.options.threads.max(1);
    let data_dir = state.data_dir.clone();
    let loaded =
        tokio::task::spawn_blocking(move || -> std::result::Result<LanguageModel, String> {
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

/// Publishes hints for documents as they change, one document at a time, newest text only.
async fn diagnostics_loop(state: Arc<State>, mut inbox: mpsc::UnboundedReceiver<Url>) {
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
                let Some((assistant, settings, corpora)) = worker.context_for(&run) else {
                    return Some(Vec::new());
                };
                let path = run.path();
                let cancelled = || !worker.is_current(&run.uri, run.version());
                let ignores = worker.with_ignores(path.as_deref(), |ignores| ignores.clone());
                diagnostics::diagnostics(
                    &assistant, &run, &settings, &corpora, &ignores, &cancelled,
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

/// The indexes a document retrieves from: the settings' `indexPaths`, then the workspace's
/// own corpus index if it has been built.
fn index_paths(settings: &Settings, corpus_index: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = settings.index_paths.clone();
    if let Some(path) = corpus_index.filter(|p| p.is_file()) {
        if !paths.iter().any(|p| p == path) {
            paths.push(path.to_path_buf());
        }
    }
    paths
}
