//! Hints as diagnostics: the assistant's hints of a document, less what the writer ignored,
//! with the house word and the sentence's fingerprint as data for the quick fixes, the
//! corpus sentences as related information, the team's page on the kind (`hints.docsUrl`)
//! as code description, and a rejected term tagged Deprecated.

use precedent_engine::assist::{Assistant, Corpora, HintOptions};
use precedent_engine::editing::{self, HintKind};
use precedent_engine::evidence::SupportingSentence;
use tower_lsp_server::ls_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag,
    Location, NumberOrString, Position, Range, Uri,
};

use super::hint_thresholds;
use crate::config::{Settings, Severity};
use crate::documents::Snapshot;
use crate::ignores::{sentence_fingerprint, Ignores};
use crate::protocol::HintData;

pub const SOURCE: &str = "precedent";
/// Whether `code` is the diagnostic code of a kind of hint ("spelling", "word-choice", …).
pub fn is_hint_code(code: &str) -> bool {
    HintKind::ALL.iter().any(|kind| kind.name() == code)
}

/// The hints of `snapshot`, or `None` if `cancelled` turned true on the way. `client_tags`:
/// the diagnostic tags the client declares it supports (`tagSupport.valueSet`); no other is
/// sent.
pub fn diagnostics(
    assistant: &Assistant,
    snapshot: &Snapshot,
    settings: &Settings,
    corpora: &Corpora,
    ignores: &Ignores,
    client_tags: &[DiagnosticTag],
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
            // A word the corpus never writes, where it writes the house word: editors strike
            // it through.
            let tags = Some(vec![DiagnosticTag::DEPRECATED])
                .filter(|_| hint.is_rejected_term())
                .filter(|_| client_tags.contains(&DiagnosticTag::DEPRECATED));
            Diagnostic {
                range: snapshot.range(placed.source),
                severity: Some(severity),
                code: Some(NumberOrString::String(hint.kind.name().to_string())),
                code_description: settings.hints.docs_url.as_ref().and_then(|docs| {
                    Some(CodeDescription {
                        href: docs.href(hint.kind)?.clone(),
                    })
                }),
                source: Some(SOURCE.to_string()),
                message: editing::hint_message(hint),
                related_information: Some(hint.support.iter().filter_map(evidence).collect())
                    .filter(|related: &Vec<_>| !related.is_empty()),
                tags,
                data: serde_json::to_value(HintData {
                    word: hint.written.clone(),
                    preferred: hint.preferred.clone(),
                    kind: hint.kind.name().to_string(),
                    sentence_fingerprint: sentence_fingerprint(&placed.sentence),
                })
                .ok(),
            }
        })
        .collect();
    Some(diagnostics)
}

/// A corpus sentence as related information: where it is in its file (if the file is on
/// this disk, so that the editor can open it) and its text.
fn evidence(sentence: &SupportingSentence) -> Option<DiagnosticRelatedInformation> {
    let path = std::path::Path::new(sentence.path.as_deref()?);
    let uri = Uri::from_file_path(path).filter(|_| path.is_file())?;
    let line = sentence.line.saturating_sub(1);
    let start = sentence.column.saturating_sub(1);
    let first_line = sentence.sentence.lines().next().unwrap_or_default();
    let end = start
        + first_line
            .chars()
            .map(|c| c.len_utf16() as u32)
            .sum::<u32>();
    Some(DiagnosticRelatedInformation {
        location: Location {
            uri,
            range: Range::new(Position::new(line, start), Position::new(line, end)),
        },
        message: format!("The corpus: {}", sentence.sentence),
    })
}
