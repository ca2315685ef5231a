//! The hints of a whole document, as `precedent check` and the benchmarks read it: block by
//! block from each block's start (as the editor analyses it), the surest hints first when a
//! document has more than its cap.

use std::ops::Range;

use super::analysis::{analyze_block, AnalysisOptions};
use super::hints::{word_choice_hints, Hint, HintThresholds};
use super::words::block_ranges;
use crate::corpus::{Document, SourcePosition};
use crate::knnlm::{CorpusIndex, KnnParams};
use crate::lm::{Context, LmError};

/// A hint placed in its document.
#[derive(Clone, Debug)]
pub struct DocumentHint {
    /// Bytes of the written word in the document's prose.
    pub prose: Range<usize>,
    /// Where the written word starts in the source file.
    pub source: SourcePosition,
    pub hint: Hint,
}

/// What a whole-document pass needs besides the document.
pub struct HintPass<'a> {
    pub context: &'a Context,
    pub corpora: &'a [&'a CorpusIndex],
    pub params: &'a KnnParams,
    pub thresholds: &'a HintThresholds,
    /// Corpus sentences kept per hint.
    pub max_support: usize,
    /// At most this many hints per document, the surest.
    pub max_per_document: usize,
}

impl HintPass<'_> {
    /// The hints of `document` in document order. `progress(done, total)` after each block.
    pub fn document_hints(
        &self,
        document: &Document,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<DocumentHint>, LmError> {
        let options = AnalysisOptions {
            k: self.params.k,
            ..AnalysisOptions::default()
        };
        let blocks = block_ranges(document);
        let mut found = Vec::new();
        for (done, block) in blocks.iter().enumerate() {
            let text = &document.text()[block.clone()];
            let analysis =
                analyze_block(self.context, self.corpora, text, None, &options, &|| false)?
                    .expect("never cancelled");
            let hints = word_choice_hints(
                self.context,
                &analysis,
                self.corpora,
                self.params,
                self.thresholds,
                self.max_support,
            )?;
            found.extend(hints.into_iter().map(|hint| {
                let prose = block.start + hint.bytes.start..block.start + hint.bytes.end;
                DocumentHint {
                    source: document.source_position(prose.start),
                    prose,
                    hint,
                }
            }));
            progress(done + 1, blocks.len());
        }
        Ok(surest_in_order(found, self.max_per_document, |h| &h.hint))
    }
}

/// At most `max` of `hints`, the surest ([`Hint::confidence`]), in their original order.
pub fn surest_in_order<T>(mut hints: Vec<T>, max: usize, hint: impl Fn(&T) -> &Hint) -> Vec<T> {
    if hints.len() <= max {
        return hints;
    }
    let mut order: Vec<usize> = (0..hints.len()).collect();
    order.sort_by(|&a, &b| {
        hint(&hints[b])
            .confidence()
            .total_cmp(&hint(&hints[a]).confidence())
    });
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
