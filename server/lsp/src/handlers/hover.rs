//! textDocument/hover: "similar usage" of the word under the cursor.

use precedent_engine::editing;
use tower_lsp::lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind, Position};

use super::{escape, evidence_markdown, DocumentRequest};
use crate::documents::word_around;
use crate::engine::Lane;

const MAX_SUPPORT: usize = 3;

pub fn hover(request: &DocumentRequest, position: Position) -> Option<Hover> {
    let DocumentRequest {
        engine,
        snapshot,
        settings,
        corpora,
        is_current,
    } = request;
    if !settings.hover.enabled || corpora.indexes.is_empty() {
        return None;
    }
    let text = &snapshot.text;
    let offset = snapshot.lines.offset(text, position);
    let word = word_around(text, offset);
    if word.is_empty() {
        return None;
    }
    let prose = snapshot.prose(corpora.keep_inline_code)?;
    let prose_start = prose.prose_offset(snapshot, word.start);
    if !prose.text()[prose_start..].starts_with(&text[word.clone()]) {
        return None; // not prose: code, front matter, markup
    }
    let block = prose.block_at(prose_start)?;
    let block_start = prose.blocks[block].start;
    let analysis = engine.analysis(
        &snapshot.uri,
        corpora,
        prose.block_text(block),
        Lane::Typing,
        &|| !is_current(),
    )?;
    let written = &text[word.clone()];
    let markdown = match analysis.word_at(prose_start - block_start) {
        Some(analysed) => {
            let refs = corpora.refs();
            let usage =
                editing::similar_usage(analysed, written, &refs, &corpora.params, MAX_SUPPORT);
            let mut markdown = usage_markdown(written, &usage, &refs);
            let thresholds = editing::HintThresholds {
                min_preferred_probability: settings.hints.min_preferred_probability,
                min_ratio: settings.hints.min_ratio,
                max_fluency_loss: settings.hints.max_fluency_loss,
                ..editing::HintThresholds::default()
            };
            // The word choice a hint would offer here (stage 1 of the hints, no model run).
            let word_choice =
                editing::hint_candidates(&analysis, &refs, &corpora.params, &thresholds)
                    .into_iter()
                    .find(|c| {
                        c.word.bytes == analysed.bytes && c.kind == editing::HintKind::WordChoice
                    });
            if let Some(candidate) = word_choice.filter(|c| {
                usage
                    .preferred
                    .as_ref()
                    .is_none_or(|p| p.word != c.preferred)
            }) {
                let support: Vec<_> = candidate
                    .support
                    .iter()
                    .take(MAX_SUPPORT)
                    .cloned()
                    .collect();
                markdown.push_str(&variant_markdown(
                    written,
                    editing::HintKind::WordChoice,
                    &candidate.preferred,
                    (candidate.written_count, candidate.preferred_count),
                    &support,
                ));
            }
            if let Some((kind, house, written_count, house_count, support)) =
                editing::house_variant(&analysis, analysed, &refs, MAX_SUPPORT)
            {
                markdown.push_str(&variant_markdown(
                    written,
                    kind,
                    &house,
                    (written_count, house_count),
                    &support,
                ));
            }
            markdown
        }
        None => return None, // the block's first word: no context to judge it by
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(snapshot.lines.range(text, word)),
    })
}

/// "sign: 13 times in the corpus".
fn times(count: u32) -> String {
    match count {
        0 => "never".to_string(),
        1 => "once".to_string(),
        n => format!("{n} times"),
    }
}

fn variant_markdown(
    written: &str,
    kind: editing::HintKind,
    house: &str,
    (written_count, house_count): (u32, u32),
    support: &[precedent_engine::evidence::SupportingSentence],
) -> String {
    let (what, here) = match kind {
        editing::HintKind::Spelling => ("spells it", ""),
        editing::HintKind::Capitalisation => ("writes", ""),
        editing::HintKind::WordChoice => ("writes", " here"),
    };
    let mut out = format!(
        "\n**The corpus {what} *{}*{here}** ({}; *{}* {}):\n\n",
        escape(house),
        times(house_count),
        escape(written),
        times(written_count)
    );
    for sentence in support {
        out.push_str(&evidence_markdown(sentence));
        out.push('\n');
    }
    out
}

fn usage_markdown(
    written: &str,
    usage: &editing::Usage,
    corpora: &[&precedent_engine::knnlm::CorpusIndex],
) -> String {
    let mut out = String::new();
    let w = &usage.written;
    out.push_str(&format!(
        "**precedent** · *{}* here: p {:.2} (LM {:.2}, corpus {:.2})\n\n",
        escape(written),
        w.probability,
        w.lm_probability,
        w.knn_probability
    ));
    if usage.support.is_empty() {
        out.push_str("No similar usage in the corpus.\n");
    } else {
        out.push_str("**Similar usage in the corpus:**\n\n");
        for sentence in &usage.support {
            out.push_str(&evidence_markdown(sentence));
            out.push('\n');
        }
    }
    if let Some(preferred) = &usage.preferred {
        let c = &preferred.candidate;
        out.push_str(&format!(
            "\n**The corpus prefers *{}* here:** p {:.2} (LM {:.2}, corpus {:.2}); the corpus writes *{}* {}, *{}* {}\n\n",
            escape(&preferred.word),
            c.probability,
            c.lm_probability,
            c.knn_probability,
            escape(&preferred.word),
            times(editing::corpus_count(corpora, &preferred.word)),
            escape(written),
            times(editing::corpus_count(corpora, written)),
        ));
        for sentence in &preferred.support {
            out.push_str(&evidence_markdown(sentence));
            out.push('\n');
        }
    }
    out
}
