//! textDocument/hover: the corpus's usage of the word under the cursor, as Markdown.

use precedent_engine::assist::{VariantNote, WordUsage};
use precedent_engine::editing::HintKind;
use tower_lsp_server::ls_types::{Hover, HoverContents, MarkupContent, MarkupKind, Position};

use super::{escape, evidence_markdown, hint_thresholds, DocumentRequest};

pub fn hover(request: &DocumentRequest, position: Position) -> Option<Hover> {
    let DocumentRequest {
        assistant,
        snapshot,
        settings,
        corpora,
        is_current,
    } = request;
    if !settings.hover.enabled {
        return None;
    }
    let offset = snapshot.offset(position);
    let thresholds = hint_thresholds(settings);
    let usage =
        assistant.word_usage(&snapshot.document, corpora, offset, &thresholds, is_current)?;
    let mut markdown = usage_markdown(&usage);
    for variant in &usage.variants {
        markdown.push_str(&variant_markdown(variant));
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(snapshot.range(usage.word)),
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

fn variant_markdown(variant: &VariantNote) -> String {
    let (house, written) = (escape(&variant.house), escape(&variant.written));
    let mut out = match variant.kind {
        HintKind::StatedRule => format!(
            "\n**The corpus says to write *{house}*, not *{written}*** (*{house}* {}; *{written}* {}):\n\n",
            times(variant.house_count),
            times(variant.written_count)
        ),
        kind => {
            let (what, here) = match kind {
                HintKind::Spelling => ("spells it", ""),
                HintKind::WordChoice => ("writes", " here"),
                HintKind::Capitalisation | HintKind::StatedRule => ("writes", ""),
            };
            format!(
                "\n**The corpus {what} *{house}*{here}** ({}; *{written}* {}):\n\n",
                times(variant.house_count),
                times(variant.written_count)
            )
        }
    };
    for sentence in &variant.support {
        out.push_str(&evidence_markdown(sentence));
        out.push('\n');
    }
    out
}

fn usage_markdown(word: &WordUsage) -> String {
    let WordUsage {
        written,
        usage,
        written_count,
        preferred_count,
        ..
    } = word;
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
            times(preferred_count.unwrap_or(0)),
            escape(written),
            times(*written_count),
        ));
        for sentence in &preferred.support {
            out.push_str(&evidence_markdown(sentence));
            out.push('\n');
        }
    }
    out
}
