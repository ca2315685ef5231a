//! Completions at a cursor: the context the writer has typed (the block so far, or the
//! previous block at a block's start), the word being typed as a prefix, and the kNN-LM's
//! next words and phrase, with the document's own earlier text as a cache.

use std::ops::Range;

use super::{word_around, Assistant, Corpora, OpenDocument, Prose};
use crate::editing::{self, Completion, CompletionOptions, CompletionQuery, HintThresholds};

/// Tokens of context at most: a longer block keeps only its end.
const MAX_CONTEXT_TOKENS: usize = 512;

/// What may replace the word being typed.
#[derive(Clone, Debug)]
pub struct Completions {
    /// Source bytes the items replace: the part of the word typed before the cursor.
    pub replace: Range<usize>,
    pub items: Vec<SuggestedText>,
}

/// One completion as it is inserted.
#[derive(Clone, Debug)]
pub struct SuggestedText {
    /// The text that replaces [`Completions::replace`] (with a leading space where the
    /// cursor follows punctuation).
    pub insert: String,
    pub completion: Completion,
    /// The house term a rule of the corpus writes instead ("select" for "click"): such an
    /// item comes after the others and is never ghost text.
    pub ruled_out_by: Option<String>,
}

impl Completions {
    /// What an editor may show as ghost text: the phrase, if completion offers one, else the
    /// first item when it is at least `min_probability` probable or the neighbours agree on
    /// it ([`editing::SURE_AGREEMENT`]); `None` when nothing is that sure.
    pub fn sure(&self, min_probability: f32) -> Option<&SuggestedText> {
        self.items
            .iter()
            .find(|suggested| suggested.completion.is_phrase)
            .or_else(|| {
                self.items.first().filter(|top| {
                    top.completion.probability >= min_probability
                        || top.completion.knn_probability >= editing::SURE_AGREEMENT
                })
            })
            .filter(|suggested| suggested.ruled_out_by.is_none())
    }
}

impl Assistant {
    /// Completions at source byte `cursor`, best first, those a stated rule of the corpus
    /// rules out last (the rules that hold at `hint_thresholds`); `None` outside prose or
    /// when `is_current` turned false before the model ran.
    pub fn completions(
        &self,
        document: &OpenDocument,
        corpora: &Corpora,
        cursor: usize,
        options: &CompletionOptions,
        hint_thresholds: &HintThresholds,
        is_current: &dyn Fn() -> bool,
    ) -> Option<Completions> {
        let text = &document.text;
        let cursor = cursor.min(text.len());
        let prefix_start = word_around(text, cursor).start;
        let prefix = &text[prefix_start..cursor];
        let prose = document.prose(corpora.keep_inline_code)?;
        let prose_offset = prose.prose_offset(document, prefix_start);
        if !in_prose(document, &prose, prose_offset, prefix_start) {
            return None;
        }
        let block = prose
            .block_at(prose_offset)
            .or_else(|| prose.block_at(prose_offset.saturating_sub(2)))?;
        let block_range = prose.blocks[block].clone();
        let before = &prose.text()[block_range.start..prose_offset.max(block_range.start)];
        let before_trimmed = before.trim_end();
        let char_before = text[..prefix_start].chars().next_back();
        let (context_text, leading_space) = if before_trimmed.is_empty() {
            // The first word of a block: the previous block is the context, then a paragraph
            // break, unless a long paragraph was cut there (see `block_ranges`).
            let previous = prose.block_text(block.checked_sub(1)?);
            if prose.text()[..block_range.start].ends_with("\n\n") {
                (format!("{previous}\n\n"), false)
            } else {
                (
                    previous.to_string(),
                    editing::leading_space_after(char_before),
                )
            }
        } else {
            (
                before_trimmed.to_string(),
                editing::leading_space_after(char_before),
            )
        };
        // Typed right after punctuation ("end.|"): the inserted word brings its space.
        let insert_space = leading_space && !char_before.is_some_and(char::is_whitespace);

        let mut tokens = self.model.tokenizer().encode(&context_text).ok()?;
        if tokens.len() > MAX_CONTEXT_TOKENS {
            tokens.drain(..tokens.len() - MAX_CONTEXT_TOKENS);
        }
        let block_texts: Vec<&str> = (0..prose.blocks.len())
            .map(|b| prose.block_text(b))
            .collect();
        let cache = corpora
            .params
            .document_cache
            .then(|| self.document_cache(corpora, &block_texts, block, &document.id, &tokens));
        let query = CompletionQuery {
            tokens_before: &tokens,
            prefix,
            leading_space,
        };
        let refs = corpora.refs();
        let completions = self.with_typing_context(&document.id, |context| {
            if !is_current() {
                return Ok(Vec::new());
            }
            editing::complete(
                context,
                &refs,
                cache.as_ref(),
                &corpora.params,
                &query,
                options,
            )
        });
        let completions = match completions {
            Ok(completions) => completions,
            Err(error) => {
                tracing::warn!(%error, "completion failed");
                return None;
            }
        };
        let texts: Vec<&str> = completions.iter().map(|c| c.text.as_str()).collect();
        let houses = editing::house_terms_instead(&texts, &refs, hint_thresholds);
        let (mut items, ruled_out): (Vec<_>, Vec<_>) = completions
            .into_iter()
            .zip(houses)
            .map(|(completion, ruled_out_by)| SuggestedText {
                insert: if insert_space {
                    format!(" {}", completion.text)
                } else {
                    completion.text.clone()
                },
                ruled_out_by,
                completion,
            })
            .partition(|suggested| suggested.ruled_out_by.is_none());
        items.extend(ruled_out);
        Some(Completions {
            replace: prefix_start..cursor,
            items,
        })
    }
}

/// Is the cursor in prose? Between the prose before it and the cursor there may be
/// whitespace and markup, but no other text (which would be code or front matter).
fn in_prose(document: &OpenDocument, prose: &Prose, prose_offset: usize, cursor: usize) -> bool {
    let Some(last) = prose.text()[..prose_offset].char_indices().next_back() else {
        return true;
    };
    let source = prose.source_range(document, last.0..last.0 + last.1.len_utf8());
    let gap = document
        .text
        .get(source.end.min(cursor)..cursor)
        .unwrap_or("");
    !gap.chars().any(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str, probability: f32, knn_probability: f32, is_phrase: bool) -> SuggestedText {
        SuggestedText {
            insert: text.to_string(),
            completion: Completion {
                text: text.to_string(),
                probability,
                lm_probability: probability,
                knn_probability,
                support: Vec::new(),
                support_count: 0,
                is_phrase,
            },
            ruled_out_by: None,
        }
    }

    fn ruled_out(text: &str, probability: f32, knn_probability: f32) -> SuggestedText {
        SuggestedText {
            ruled_out_by: Some("select".to_string()),
            ..item(text, probability, knn_probability, false)
        }
    }

    #[test]
    fn ghost_text_is_the_phrase_or_a_sure_first_word() {
        // (items, what ghost text shows at min probability 0.5)
        let cases = [
            (
                vec![
                    item("sign", 0.6, 0.9, false),
                    item("sign in", 0.5, 0.9, true),
                ],
                Some("sign in"),
            ),
            (vec![item("sign", 0.6, 0.0, false)], Some("sign")),
            (vec![item("sign", 0.15, 0.98, false)], Some("sign")),
            (vec![item("find", 0.3, 0.0, false)], None),
            (vec![item("sign", 0.15, 0.85, false)], None),
            // A word the corpus's style guide rules out is never ghost text.
            (vec![ruled_out("click", 0.9, 0.0)], None),
            (Vec::new(), None),
        ];
        for (items, expected) in cases {
            let completions = Completions {
                replace: 0..0,
                items,
            };
            let shown = completions.sure(0.5).map(|s| s.insert.as_str());
            assert_eq!(shown, expected, "{:?}", completions.items);
        }
    }
}
