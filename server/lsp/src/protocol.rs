//! The messages precedent adds to LSP, typed (PROTOCOL.md): the status notification, the
//! commands, and the data a hint's diagnostic carries for its quick fixes.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification;

/// Client → server request: the status (model, indexes, parameters).
pub const STATUS: &str = "precedent/status";

/// Server → client: the status changed.
pub enum StatusChanged {}

impl notification::Notification for StatusChanged {
    type Params = Status;
    const METHOD: &'static str = "precedent/statusChanged";
}

/// The answer to [`STATUS`] and the params of [`StatusChanged`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub model: Option<String>,
    pub model_error: Option<String>,
    pub indexes: Vec<IndexStatus>,
    pub indexing: bool,
    pub last_update: Option<String>,
    pub k: Option<usize>,
    pub lambda: Option<f64>,
    pub temperature: Option<f64>,
    pub document_cache: Option<bool>,
    pub document_cache_skip_recent: Option<usize>,
}

/// One index in use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexStatus {
    pub path: String,
    pub entries: usize,
    pub documents: usize,
    pub modified: Option<String>,
    /// The index's documents kept the text of inline code (so documents are read that way).
    pub keep_inline_code: bool,
    /// The file at `path` was replaced by one that cannot be opened: why. This index (the
    /// one loaded before) still serves.
    pub replacement_error: Option<String>,
    /// Searches of this index fail (a Milvus engine that does not answer): why. Suggestions
    /// go on without it until it answers again.
    pub search_error: Option<String>,
}

/// Command: look at the indexes again and re-index the configured corpus folders.
pub const REINDEX: &str = "precedent.reindex";
/// Command: ignore a word in one sentence of one document ([`IgnoreArguments`]).
pub const IGNORE_HERE: &str = "precedent.ignoreHere";
/// Command: ignore a word everywhere in the workspace ([`IgnoreArguments`]).
pub const IGNORE_IN_WORKSPACE: &str = "precedent.ignoreInWorkspace";
/// Every command the server executes.
pub const COMMANDS: [&str; 3] = [REINDEX, IGNORE_HERE, IGNORE_IN_WORKSPACE];

/// What a hint's diagnostic carries (`data`) for its quick fixes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HintData {
    /// The word as written.
    pub word: String,
    /// The house word that replaces it.
    pub preferred: String,
    /// The hint's kind (also its diagnostic code).
    pub kind: String,
    /// The fingerprint of the sentence it stands in, so "ignore here" survives edits
    /// elsewhere in the document.
    pub sentence_fingerprint: String,
}

/// The argument of the ignore commands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreArguments {
    pub uri: String,
    pub word: String,
    /// Only for [`IGNORE_HERE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence_fingerprint: Option<String>,
}
