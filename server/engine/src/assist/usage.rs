//! The usage of the word at a cursor (what a hover shows): how probable it is here, the
//! corpus sentences that use it alike, the word the corpus prefers here, and any rule it
//! states, spelling, capitalisation or word choice it writes instead.

use std::ops::Range;

use super::{word_around, Assistant, Corpora, Lane, OpenDocument};
use crate::editing::{self, HintKind, HintThresholds, Usage};
use crate::evidence::SupportingSentence;

/// Corpus sentences kept per piece of evidence.
const MAX_SUPPORT: usize = 3;

/// What the corpus says of one written word.
#[derive(Clone, Debug)]
pub struct WordUsage {
    /// Source bytes of the word.
    pub word: Range<usize>,
    pub written: String,
    pub usage: Usage,
    /// How often the corpus writes the written word, and the word it prefers here (if any).
    pub written_count: u32,
    pub preferred_count: Option<u32>,
    /// What the corpus writes instead: a word choice a hint would offer here, and a
    /// spelling or capitalisation the corpus uses.
    pub variants: Vec<VariantNote>,
}

/// A form the corpus writes instead of the written word.
#[derive(Clone, Debug)]
pub struct VariantNote {
    pub kind: HintKind,
    /// The written words it is about: the word, or the words of a stated rule ("log in").
    pub written: String,
    pub house: String,
    pub written_count: u32,
    pub house_count: u32,
    pub support: Vec<SupportingSentence>,
}

impl Assistant {
    /// The usage of the word at source byte `offset`; `None` where there is no word, it is
    /// not prose, it begins its block (no context to judge it by), or `is_current` turned
    /// false.
    pub fn word_usage(
        &self,
        document: &OpenDocument,
        corpora: &Corpora,
        offset: usize,
        thresholds: &HintThresholds,
        is_current: &dyn Fn() -> bool,
    ) -> Option<WordUsage> {
        if corpora.indexes.is_empty() {
            return None;
        }
        let text = &document.text;
        let word = word_around(text, offset);
        if word.is_empty() {
            return None;
        }
        let written = &text[word.clone()];
        let prose = document.prose(corpora.keep_inline_code)?;
        let prose_start = prose.prose_offset(document, word.start);
        if !prose.text()[prose_start..].starts_with(written) {
            return None; // not prose: code, front matter, markup
        }
        let block = prose.block_at(prose_start)?;
        let block_start = prose.blocks[block].start;
        let analysis = self.analysis(
            &document.id,
            corpora,
            prose.block_text(block),
            Lane::Typing,
            &|| !is_current(),
        )?;
        let analysed = analysis.word_at(prose_start - block_start)?;
        let refs = corpora.refs();
        let usage = editing::similar_usage(analysed, written, &refs, &corpora.params, MAX_SUPPORT);
        let mut variants = Vec::new();
        // The word choice the hint offers here (checked as the hints check it, or
        // remembered from their check), unless the usage already names that word.
        let word_choice = self
            .block_hints(
                &document.id,
                corpora,
                &analysis,
                thresholds,
                Lane::Typing,
                Some(&analysed.bytes),
            )
            .into_iter()
            .find(|hint| hint.kind == HintKind::WordChoice)
            .filter(|hint| {
                usage
                    .preferred
                    .as_ref()
                    .is_none_or(|p| p.word != hint.preferred)
            });
        if let Some(hint) = word_choice {
            variants.push(VariantNote {
                kind: HintKind::WordChoice,
                written: hint.written,
                house: hint.preferred,
                written_count: hint.written_count,
                house_count: hint.preferred_count,
                support: hint.support.into_iter().take(MAX_SUPPORT).collect(),
            });
        }
        // A rule the corpus states about the words here ("log" in "log in").
        let stated = editing::stated_rule_hints(&analysis.text, &refs, thresholds)
            .into_iter()
            .find(|hint| {
                hint.bytes.start <= analysed.bytes.start && analysed.bytes.end <= hint.bytes.end
            });
        if let Some(hint) = stated {
            variants.push(VariantNote {
                kind: HintKind::StatedRule,
                written: hint.written,
                house: hint.preferred,
                written_count: hint.written_count,
                house_count: hint.preferred_count,
                support: hint.support.into_iter().take(MAX_SUPPORT).collect(),
            });
        }
        if let Some((kind, house, written_count, house_count, support)) =
            editing::house_variant(&analysis, analysed, &refs, MAX_SUPPORT)
        {
            variants.push(VariantNote {
                kind,
                written: written.to_string(),
                house,
                written_count,
                house_count,
                support,
            });
        }
        Some(WordUsage {
            written_count: editing::corpus_count(&refs, written),
            preferred_count: usage
                .preferred
                .as_ref()
                .map(|p| editing::corpus_count(&refs, &p.word)),
            word,
            written: written.to_string(),
            usage,
            variants,
        })
    }
}
