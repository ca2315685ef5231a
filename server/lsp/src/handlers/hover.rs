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
            let usage = editing::similar_usage(
                analysed,
                written,
                &corpora.refs(),
                &corpora.params,
                MAX_SUPPORT,
            );
            usage_markdown(written, &usage)
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

fn usage_markdown(written: &str, usage: &editing::Usage) -> String {
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
            "\n**The corpus prefers *{}* here:** p {:.2} (LM {:.2}, corpus {:.2})\n\n",
            escape(&preferred.word),
            c.probability,
            c.lm_probability,
            c.knn_probability
        ));
        for sentence in &preferred.support {
            out.push_str(&evidence_markdown(sentence));
            out.push('\n');
        }
    }
    out
}
