//! The hints of a whole document: every block analysed (cached by its text), the block
//! being edited first, each block's hints checked right after its analysis, the word being
//! typed and what the caller skips left out, the surest kept up to a cap.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Assistant, Corpora, Lane, OpenDocument};
use crate::corpus::SourcePosition;
use crate::editing::{BlockAnalysis, Hint, HintThresholds};

/// What a document's hints are found with.
#[derive(Clone, Debug)]
pub struct HintOptions {
    pub thresholds: HintThresholds,
    /// At most this many hints per document, the surest.
    pub max_per_document: usize,
}

/// A hint placed in its document.
#[derive(Clone, Debug)]
pub struct PlacedHint {
    pub hint: Hint,
    /// Source bytes of the written word.
    pub source: Range<usize>,
    /// Where the written word starts (1-based line and column in characters).
    pub position: SourcePosition,
    /// The sentence it stands in (prose text).
    pub sentence: String,
}

impl Assistant {
    /// The hints of `document` in document order, or `None` if `cancelled` turned true on
    /// the way. `skip(hint, sentence)` leaves out what the writer chose to ignore.
    pub fn document_hints(
        &self,
        document: &OpenDocument,
        corpora: &Corpora,
        options: &HintOptions,
        skip: &dyn Fn(&Hint, &str) -> bool,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Vec<PlacedHint>> {
        if corpora.indexes.is_empty() {
            return Some(Vec::new());
        }
        let Some(prose) = document.prose(corpora.keep_inline_code) else {
            return Some(Vec::new());
        };
        let edited_block = document
            .last_edit
            .map(|offset| prose.prose_offset(document, offset))
            .and_then(|offset| prose.block_at(offset));
        // The block being edited first. All of this runs in the background lane, so that
        // completion and hover never wait for it (beyond one model call).
        let mut order: Vec<usize> = edited_block.into_iter().collect();
        order.extend((0..prose.blocks.len()).filter(|&b| Some(b) != edited_block));
        // Each block's hints right after its analysis: the model's KV cache then still
        // holds the block, which the substitution check extends.
        let started = Instant::now();
        let mut analyses: Vec<Option<Arc<BlockAnalysis>>> = vec![None; prose.blocks.len()];
        let mut block_hints = vec![Vec::new(); prose.blocks.len()];
        let (mut analysing, mut checking) = (Duration::ZERO, Duration::ZERO);
        for block in order {
            let lane = Lane::Background;
            let block_started = Instant::now();
            let analysis = self.analysis(
                &document.id,
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
            block_hints[block] = self.block_hints(
                &document.id,
                corpora,
                &analysis,
                &options.thresholds,
                lane,
                None,
            );
            checking += checks_started.elapsed();
            analyses[block] = Some(analysis);
        }
        self.set_latest(&document.id, analyses.iter().flatten().cloned().collect());
        tracing::debug!(
            document = document.id,
            version = document.version,
            ms = started.elapsed().as_millis() as u64,
            analysis_ms = analysing.as_millis() as u64,
            checks_ms = checking.as_millis() as u64,
            interrupted_runs = self.model.interrupted_runs(),
            "blocks analysed and hints checked"
        );

        let typing = document.last_edit;
        let mut found = Vec::new();
        for (block, hints) in block_hints.into_iter().enumerate() {
            let block_start = prose.blocks[block].start;
            for hint in hints {
                let prose_range = block_start + hint.bytes.start..block_start + hint.bytes.end;
                let source = prose.source_range(document, prose_range.clone());
                // Never the word under the caret: it may not be finished.
                if typing.is_some_and(|t| source.start <= t && t <= source.end) {
                    continue;
                }
                let sentence = &prose.text()[prose.document.sentence_at(prose_range.start)];
                if skip(&hint, sentence) {
                    continue;
                }
                found.push(PlacedHint {
                    position: document.source_position(source.start),
                    source,
                    sentence: sentence.to_string(),
                    hint,
                });
            }
        }
        Some(surest_in_order(found, options.max_per_document, |p| {
            p.hint.confidence()
        }))
    }
}

/// At most `max` of `hints`, the surest by `confidence` (e.g. [`Hint::confidence`]), in
/// their original order.
fn surest_in_order<T>(mut hints: Vec<T>, max: usize, confidence: impl Fn(&T) -> f32) -> Vec<T> {
    if hints.len() <= max {
        return hints;
    }
    let mut order: Vec<usize> = (0..hints.len()).collect();
    order.sort_by(|&a, &b| confidence(&hints[b]).total_cmp(&confidence(&hints[a])));
    let mut keep = vec![false; hints.len()];
    for &index in order.iter().take(max) {
        keep[index] = true;
    }
    let mut index = 0;
    hints.retain(|_| {
        index += 1;
        keep[index - 1]
    });
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_surest_are_kept_in_their_order() {
        // (confidences in document order, cap, what is kept)
        let cases: [(&[f32], usize, &[f32]); 3] = [
            (&[0.2, 0.9, 0.5, 0.7], 2, &[0.9, 0.7]),
            (&[0.2, 0.9], 5, &[0.2, 0.9]),
            (&[0.3, 0.1, 0.3], 1, &[0.3]),
        ];
        for (confidences, cap, kept) in cases {
            let kept_now = surest_in_order(confidences.to_vec(), cap, |c| *c);
            assert_eq!(kept_now, kept, "{confidences:?} capped at {cap}");
        }
    }
}
