//! Hints as diagnostics: the assistant's hints of a document, less what the writer ignored,
//! with the house word and the sentence's fingerprint as data for the quick fixes.

use precedent_engine::assist::{Assistant, Corpora, HintOptions};
use precedent_engine::editing::{self, HintKind};
use tower_lsp::lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString};

use super::hint_thresholds;
use crate::config::{Settings, Severity};
use crate::documents::Snapshot;
use crate::ignores::{sentence_fingerprint, Ignores};
use crate::protocol::HintData;

pub const SOURCE: &str = "precedent";
/// The diagnostic code of each kind of hint ("spelling", "capitalisation", "word-choice").
pub const CODES: [&str; 3] = [
    HintKind::Spelling.name(),
    HintKind::Capitalisation.name(),
    HintKind::WordChoice.name(),
];

/// The hints of `snapshot`, or `None` if `cancelled` turned true on the way.
pub fn diagnostics(
    assistant: &Assistant,
    snapshot: &Snapshot,
    settings: &Settings,
    corpora: &Corpora,
    ignores: &Ignores,
    cancelled: &dyn Fn() -> bool,
) -> Option<Vec<Diagnostic>> {
    if !settings.hints.enabled {
        return Some(Vec::new());
    }
    let options = HintOptions {
        thresholds: hint_thresholds(settings),
        max_per_document: settings.hints.max_per_document,
    };
    let uri = snapshot.uri.as_str();
    let skip = |hint: &editing::Hint, sentence: &str| ignores.ignores(uri, &hint.written, sentence);
    let hints =
        assistant.document_hints(&snapshot.document, corpora, &options, &skip, cancelled)?;
    let severity = match settings.hints.severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Information => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    };
    let diagnostics = hints
        .into_iter()
        .map(|placed| {
            let hint = &placed.hint;
            Diagnostic {
                range: snapshot.range(placed.source),
                severity: Some(severity),
                code: Some(NumberOrString::String(hint.kind.name().to_string())),
                source: Some(SOURCE.to_string()),
                message: editing::hint_message(hint),
                data: serde_json::to_value(HintData {
                    word: hint.written.clone(),
                    preferred: hint.preferred.clone(),
                    kind: hint.kind.name().to_string(),
                    sentence_fingerprint: sentence_fingerprint(&placed.sentence),
                })
                .ok(),
                ..Diagnostic::default()
            }
        })
        .collect();
    Some(diagnostics)
}
