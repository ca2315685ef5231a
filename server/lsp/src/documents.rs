//! The open documents: each version as the client sent it, with its line index for LSP
//! positions and the engine's view of it ([`OpenDocument`]).

use std::path::PathBuf;

use precedent_engine::assist::{format_of, OpenDocument};
use tower_lsp_server::ls_types::Uri;

use crate::text::LineIndex;

/// One version of an open document. Handlers work on a snapshot and check the version
/// before publishing, so results for old text are dropped.
#[derive(Debug)]
pub struct Snapshot {
    pub uri: Uri,
    pub language_id: String,
    pub lines: LineIndex,
    pub document: OpenDocument,
}

impl Snapshot {
    pub fn new(
        uri: Uri,
        language_id: String,
        version: i32,
        text: String,
        last_edit: Option<usize>,
    ) -> Snapshot {
        let path = uri
            .to_file_path()
            .map_or_else(|| PathBuf::from(uri.path().as_str()), |p| p.into_owned());
        let format = format_of(&language_id, &path);
        Snapshot {
            lines: LineIndex::new(&text),
            document: OpenDocument::new(uri.to_string(), path, format, version, text, last_edit),
            uri,
            language_id,
        }
    }

    pub fn text(&self) -> &str {
        &self.document.text
    }

    pub fn version(&self) -> i32 {
        self.document.version
    }

    /// The file it was opened from, if it is a file.
    pub fn path(&self) -> Option<PathBuf> {
        self.uri.to_file_path().map(|p| p.into_owned())
    }

    /// The LSP range of source bytes `bytes`.
    pub fn range(&self, bytes: std::ops::Range<usize>) -> tower_lsp_server::ls_types::Range {
        self.lines.range(self.text(), bytes)
    }

    /// The source byte offset of an LSP position.
    pub fn offset(&self, position: tower_lsp_server::ls_types::Position) -> usize {
        self.lines.offset(self.text(), position)
    }
}
