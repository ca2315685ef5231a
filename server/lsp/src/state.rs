//! The server's shared state and what it answers about itself: the settings and corpora of a
//! document, the indexes in use, the status, the client's capabilities, the file watchers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use dashmap::DashMap;
use precedent_engine::assist::{Assistant, Corpora, IndexNews};
use precedent_engine::milvus::MilvusLocation;
use precedent_engine::paths::DataDir;
use tokio::sync::{mpsc, watch};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::Client;

use crate::config::Settings;
use crate::documents::Snapshot;
use crate::handlers::status::{rfc3339, IndexStatus, Status};
use crate::ignores::Ignores;
use crate::protocol::StatusChanged;
use crate::server::ServeOptions;
use crate::settings_store::SettingsStore;

/// The assistant, once the model has loaded (or why it could not).
pub enum AssistantSlot {
    Loading,
    Ready(Arc<Assistant>),
    Failed(String),
}

/// What every handler and background task shares: the client, the open documents, the
/// settings, the assistant, the ignored words and the queue of documents to re-check.
pub struct State {
    pub client: Client,
    pub options: ServeOptions,
    pub data_dir: Option<DataDir>,
    pub documents: DashMap<Uri, Arc<Snapshot>>,
    pub settings: RwLock<SettingsStore>,
    /// Watched: requests that arrive while the model loads wait for it.
    pub assistant: watch::Sender<AssistantSlot>,
    ignores: Mutex<HashMap<Option<PathBuf>, Ignores>>,
    diagnostics_queue: mpsc::UnboundedSender<Uri>,
    pub indexing: AtomicBool,
    pub last_update: Mutex<Option<SystemTime>>,
    shown: Mutex<HashSet<String>>,
    pub capabilities: RwLock<ClientCapabilities>,
    registering_watchers: tokio::sync::Mutex<()>,
}

/// One index to build in the background: these corpus folders into `out`.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusJob {
    pub folders: Vec<PathBuf>,
    pub out: PathBuf,
}

impl State {
    /// The state of a server just started: no model yet, no settings but the defaults.
    /// Documents to re-check are sent to `diagnostics_queue`.
    pub fn new(
        client: Client,
        options: ServeOptions,
        diagnostics_queue: mpsc::UnboundedSender<Uri>,
    ) -> State {
        State {
            client,
            options,
            data_dir: DataDir::from_env().ok(),
            documents: DashMap::new(),
            settings: RwLock::new(SettingsStore::default()),
            assistant: watch::Sender::new(AssistantSlot::Loading),
            ignores: Mutex::new(HashMap::new()),
            diagnostics_queue,
            indexing: AtomicBool::new(false),
            last_update: Mutex::new(None),
            shown: Mutex::new(HashSet::new()),
            capabilities: RwLock::new(ClientCapabilities::default()),
            registering_watchers: tokio::sync::Mutex::new(()),
        }
    }

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
    pub fn serving(&self, snapshot: &Snapshot) -> Option<(Arc<Assistant>, Arc<Settings>, Corpora)> {
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
    pub fn tell(&self, news: Vec<IndexNews>) {
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
                IndexNews::SearchTrouble { path, error } => {
                    let (kind, message) = match error {
                        Some(error) => (
                            MessageType::WARNING,
                            format!("precedent: {error}; suggestions and hints go on without {} until it answers", path.display()),
                        ),
                        None => (MessageType::INFO, format!("precedent: {} answers again", path.display())),
                    };
                    tracing::warn!("{message}");
                    let client = self.client.clone();
                    tokio::spawn(async move { client.show_message(kind, message).await });
                    reloaded = true;
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

    pub fn is_current(&self, uri: &Uri, version: i32) -> bool {
        self.documents
            .get(uri)
            .is_some_and(|d| d.version() == version)
    }

    pub fn queue_diagnostics(&self, uri: &Uri) {
        let _ = self.diagnostics_queue.send(uri.clone());
    }

    pub fn queue_all_diagnostics(&self) {
        for document in self.documents.iter() {
            self.queue_diagnostics(document.key());
        }
    }

    pub fn with_ignores<R>(&self, path: Option<&Path>, work: impl FnOnce(&mut Ignores) -> R) -> R {
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
                    search_error: index.corpus.trouble(),
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

    /// The diagnostic tags the client shows (`publishDiagnostics.tagSupport.valueSet`).
    pub fn diagnostic_tags(&self) -> Vec<DiagnosticTag> {
        self.capabilities
            .read()
            .unwrap()
            .text_document
            .as_ref()
            .and_then(|t| t.publish_diagnostics.as_ref())
            .and_then(|p| p.tag_support.as_ref())
            .map(|tags| tags.value_set.clone())
            .unwrap_or_default()
    }

    pub fn supports_configuration_request(&self) -> bool {
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

    pub fn log_problems(&self, problems: Vec<String>) {
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
    pub fn corpus_jobs(&self) -> Vec<CorpusJob> {
        let store = self.settings.read().unwrap();
        let mut roots: Vec<Option<PathBuf>> = store.roots().iter().cloned().map(Some).collect();
        if roots.is_empty() {
            roots.push(None);
        }
        let mut jobs: Vec<CorpusJob> = Vec::new();
        for root in roots {
            let settings = match &root {
                Some(root) => store.settings_for_root(root),
                None => store.settings_for(None),
            };
            let Some(out) = self.corpus_index_path(&settings, root.as_deref()) else {
                continue;
            };
            if !jobs.iter().any(|j| j.out == out) {
                jobs.push(CorpusJob {
                    folders: settings.corpus.clone(),
                    out,
                });
            }
        }
        jobs
    }

    pub async fn register_watchers(&self) {
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
        // A shared index rebuilt by `precedent index` is swapped in when it changes. A Milvus
        // location is no file to watch.
        let files = self
            .named_index_paths()
            .into_iter()
            .filter(|path| MilvusLocation::from_path(path).is_none());
        for path in files {
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
