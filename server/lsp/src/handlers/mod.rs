//! One module per LSP feature: each turns the assistant's answers into lsp-types.

pub mod code_action;
pub mod completion;
pub mod diagnostics;
pub mod hover;
pub mod status;

use std::sync::Arc;

use precedent_engine::evidence::SupportingSentence;

use precedent_engine::assist::{Assistant, Corpora};
use precedent_engine::editing::HintThresholds;

use crate::config::Settings;
use crate::documents::Snapshot;

/// What a request about one document (completion, hover) works with.
pub struct DocumentRequest {
    pub assistant: Arc<Assistant>,
    pub snapshot: Arc<Snapshot>,
    pub settings: Arc<Settings>,
    pub corpora: Corpora,
    /// Is the document still at the snapshot's version?
    pub is_current: Box<dyn Fn() -> bool + Send>,
}

/// The hint thresholds the settings ask for.
pub fn hint_thresholds(settings: &Settings) -> HintThresholds {
    HintThresholds {
        min_preferred_probability: settings.hints.min_preferred_probability,
        min_ratio: settings.hints.min_ratio,
        max_fluency_loss: settings.hints.max_fluency_loss,
        ..HintThresholds::default()
    }
}

/// A supporting sentence as one Markdown list item: file:line, the sentence with the
/// supporting word in bold, and its weight.
pub fn evidence_markdown(sentence: &SupportingSentence) -> String {
    let place = match &sentence.path {
        Some(path) => format!("{}:{}", short_path(path), sentence.line),
        None => "this document".to_string(),
    };
    let text = &sentence.sentence;
    let mark = sentence.mark.clone();
    let (before, marked, after) = match (
        text.get(..mark.start),
        text.get(mark.clone()),
        text.get(mark.end..),
    ) {
        (Some(b), Some(m), Some(a)) => (b, m, a),
        _ => (text.as_str(), "", ""),
    };
    // Bold the whole word the token starts, not just the token.
    let word_end = after
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '\''))
        .map_or(after.len(), |(i, _)| i);
    let (word_rest, after) = after.split_at(word_end);
    let lead = marked.len() - marked.trim_start().len();
    format!(
        "- `{place}` ({:.2}): {}{}**{}{}**{}",
        sentence.weight,
        escape(before),
        &marked[..lead],
        escape(marked.trim_start()),
        escape(word_rest),
        escape(after)
    )
}

fn short_path(path: &str) -> &str {
    // The last two components are enough to find a file in a team folder.
    let mut parts = path.rsplitn(3, '/');
    let (Some(_), Some(_)) = (parts.next(), parts.next()) else {
        return path;
    };
    match parts.next() {
        Some(rest) => &path[rest.len() + 1..],
        None => path,
    }
}

/// Escapes Markdown's inline markup characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_marks_the_whole_word() {
        let sentence = SupportingSentence {
            path: Some("/team/docs/style/guide.md".into()),
            line: 12,
            column: 3,
            sentence: "Keep the house_style short.".into(),
            mark: 8..12,
            weight: 0.5,
        };
        assert_eq!(
            evidence_markdown(&sentence),
            "- `style/guide.md:12` (0.50): Keep the **house**\\_style short."
        );
    }
}
