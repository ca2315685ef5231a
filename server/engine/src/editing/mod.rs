//! Assistance for a document being written, in plain byte offsets of its prose: the
//! per-block analysis behind "similar usage" and word-choice hints, and completions at a
//! cursor. Blocks (paragraphs, headings, list items; long paragraphs in parts) are analysed
//! on their own, so an edit re-analyses only its block and results can be cached by the
//! block's text.

mod analysis;
mod completion;
mod hints;
mod usage;
mod words;

pub use analysis::{analyze_block, AnalysisOptions, BlockAnalysis, Candidate, WordAnalysis};
pub use completion::{
    complete, leading_space_after, Completion, CompletionOptions, CompletionQuery, SURE_AGREEMENT,
};
pub use hints::{
    check_key, checked_hints, checked_tokens, compare_words, corpus_count, hint_candidates,
    hint_message, house_terms_instead, house_variant, stated_rule_hints, word_choice_hints,
    CheckedTokens, Comparison, Hint, HintCandidate, HintKind, HintThresholds,
    DEFAULT_HINT_THRESHOLDS, RIGHT_CONTEXT_TOKENS,
};
pub use usage::{similar_usage, Preferred, Usage};
pub use words::{block_ranges, corpus_word, words_with_tokens, WordAt};
