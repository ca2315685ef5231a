//! Word-choice hints as diagnostics: every block analysed (cached by its text), hints
//! found, ignored words and the word being typed left out, the most confident kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use precedent_engine::editing::{self, BlockAnalysis, HintKind, HintThresholds};
use serde_json::json;
use tower_lsp::lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString};

use crate::config::{Settings, Severity};
use crate::documents::Snapshot;
use crate::engine::{Corpora, Engine, Lane};
use crate::ignores::{sentence_fingerprint, Ignores};

pub const SOURCE: &str = "precedent";
/// The diagnostic code of each kind of hint ("spelling", "capitalisation", "word-choice").
pub const CODES: [&str; 3] = [
    HintKind::Spelling.name(),
    HintKind::Capitalisation.name(),
    HintKind::WordChoice.name(),
];

/// The hints of `snapshot`, or `None` if `cancelled` turned true on the way.
pub fn diagnostics(
    engine: &Engine,
    snapshot: &Snapshot,
    settings: &Settings,
    corpora: &Corpora,
    ignores: &Ignores,
    cancelled: &dyn Fn() -> bool,
) -> Option<Vec<Diagnostic>> {
    if !settings.hints.enabled || corpora.indexes.is_empty() {
        return Some(Vec::new());
    }
    let Some(prose) = snapshot.prose(corpora.keep_inline_code) else {
        return Some(Vec::new());
    };
    let edited_block = snapshot
        .last_edit
        .map(|offset| prose.prose_offset(snapshot, offset))
        .and_then(|offset| prose.block_at(offset));
    // The block being edited first. All of this runs in the background lane, so that
    // completion and hover never wait for it (beyond one model call).
    let mut order: Vec<usize> = edited_block.into_iter().collect();
    order.extend((0..prose.blocks.len()).filter(|&b| Some(b) != edited_block));
    let thresholds = HintThresholds {
        min_preferred_probability: settings.hints.min_preferred_probability,
        min_ratio: settings.hints.min_ratio,
        max_fluency_loss: settings.hints.max_fluency_loss,
        ..HintThresholds::default()
    };
    // Each block's hints right after its analysis: the model's KV cache then still holds
    // the block, which the substitution check extends.
    let started = Instant::now();
    let mut analyses: Vec<Option<Arc<BlockAnalysis>>> = vec![None; prose.blocks.len()];
    let mut block_hints = vec![Vec::new(); prose.blocks.len()];
    let (mut analysing, mut checking) = (Duration::ZERO, Duration::ZERO);
    for block in order {
        let lane = Lane::Background;
        let block_started = Instant::now();
        let analysis = engine.analysis(
            &snapshot.uri,
            corpora,
            prose.block_text(block),
            lane,
            cancelled,
        )?;
        if cancelled() {
            return None;
        }
        let checks_started = Instant::now();
        analysing += checks_started - block_started;
        block_hints[block] = engine.hints(&snapshot.uri, corpora, &analysis, &thresholds, lane);
        checking += checks_started.elapsed();
        analyses[block] = Some(analysis);
    }
    engine.set_latest(&snapshot.uri, analyses.iter().flatten().cloned().collect());
    tracing::debug!(
        uri = %snapshot.uri,
        version = snapshot.version,
        ms = started.elapsed().as_millis() as u64,
        analysis_ms = analysing.as_millis() as u64,
        checks_ms = checking.as_millis() as u64,
        interrupted_runs = engine.model().interrupted_runs(),
        "blocks analysed and hints checked"
    );

    let typing = snapshot.last_edit;
    let mut found = Vec::new();
    for (block, hints) in block_hints.iter().enumerate() {
        let block_start = prose.blocks[block].start;
        for hint in hints.iter().cloned() {
            let prose_range = block_start + hint.bytes.start..block_start + hint.bytes.end;
            let source = prose.source_range(snapshot, prose_range.clone());
            // Never the word under the caret: it may not be finished.
            if typing.is_some_and(|t| source.start <= t && t <= source.end) {
                continue;
            }
            let sentence_range = prose.document.sentence_at(prose_range.start);
            let sentence = &prose.text()[sentence_range];
            if ignores.ignores(snapshot.uri.as_str(), &hint.written, sentence) {
                continue;
            }
            found.push((hint, source, sentence_fingerprint(sentence)));
        }
    }
    // The most confident first, up to the cap; then in document order.
    found.sort_by(|a, b| b.0.confidence().total_cmp(&a.0.confidence()));
    found.truncate(settings.hints.max_per_document);
    found.sort_by_key(|(_, source, _)| source.start);

    let severity = match settings.hints.severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Information => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    };
    let diagnostics = found
        .into_iter()
        .map(|(hint, source, sentence)| {
            let message = editing::hint_message(&hint);
            Diagnostic {
                range: snapshot.lines.range(&snapshot.text, source),
                severity: Some(severity),
                code: Some(NumberOrString::String(hint.kind.name().to_string())),
                source: Some(SOURCE.to_string()),
                message,
                data: Some(json!({
                    "word": hint.written,
                    "preferred": hint.preferred,
                    "kind": hint.kind.name(),
                    "sentence": sentence,
                })),
                ..Diagnostic::default()
            }
        })
        .collect();
    Some(diagnostics)
}
