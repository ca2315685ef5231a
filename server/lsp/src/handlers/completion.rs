//! textDocument/completion: next words (and a phrase) at the cursor from the kNN-LM.

use precedent_engine::editing::{self, Completion, CompletionOptions, CompletionQuery};
use tower_lsp::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionTextEdit, Documentation,
    MarkupContent, MarkupKind, Position, TextEdit,
};

use super::{evidence_markdown, DocumentRequest};
use crate::documents::{word_around, Snapshot};

/// Tokens of context at most: a longer block keeps only its end.
const MAX_CONTEXT_TOKENS: usize = 512;

/// Completions at `position`; `is_current` says whether the document is still at this
/// version (checked before the model runs).
pub fn completion(request: &DocumentRequest, position: Position) -> Option<CompletionList> {
    let DocumentRequest {
        engine,
        snapshot,
        settings,
        corpora,
        is_current,
    } = request;
    if !settings.completion.enabled {
        return None;
    }
    let text = &snapshot.text;
    let cursor = snapshot.lines.offset(text, position);
    let word = word_around(text, cursor);
    let prefix_start = word.start;
    let prefix = &text[prefix_start..cursor];
    let prose = snapshot.prose(corpora.keep_inline_code)?;
    let prose_offset = prose.prose_offset(snapshot, prefix_start);
    if !in_prose(snapshot, &prose, prose_offset, prefix_start) {
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

    let tokenizer = engine.model.tokenizer();
    let mut tokens = tokenizer.encode(&context_text).ok()?;
    if tokens.len() > MAX_CONTEXT_TOKENS {
        tokens.drain(..tokens.len() - MAX_CONTEXT_TOKENS);
    }
    let block_texts: Vec<&str> = (0..prose.blocks.len())
        .map(|b| prose.block_text(b))
        .collect();
    let cache = corpora
        .params
        .document_cache
        .then(|| engine.document_cache(corpora, &block_texts, block, &snapshot.uri, &tokens));
    let options = CompletionOptions {
        max_items: settings.completion.max_items,
        phrase_words: settings.completion.phrase_words,
        phrase_min_probability: settings.completion.phrase_min_probability,
        ..CompletionOptions::default()
    };
    let query = CompletionQuery {
        context: &tokens,
        prefix,
        leading_space,
    };
    let refs = corpora.refs();
    let completions = engine.with_typing_context(&snapshot.uri, |context| {
        if !is_current() {
            return Ok(Vec::new());
        }
        editing::complete(
            context,
            &refs,
            cache.as_ref(),
            &corpora.params,
            &query,
            &options,
        )
    });
    let completions = match completions {
        Ok(completions) => completions,
        Err(error) => {
            tracing::warn!(%error, "completion failed");
            return None;
        }
    };
    let range = snapshot.lines.range(text, prefix_start..cursor);
    let items = completions
        .iter()
        .enumerate()
        .map(|(rank, completion)| {
            let new_text = if insert_space {
                format!(" {}", completion.text)
            } else {
                completion.text.clone()
            };
            item(completion, rank, new_text, range)
        })
        .collect();
    Some(CompletionList {
        is_incomplete: true,
        items,
    })
}

/// Is the cursor in prose? Between the prose before it and the cursor there may be
/// whitespace and markup, but no other text (which would be code or front matter).
fn in_prose(
    snapshot: &Snapshot,
    prose: &crate::documents::Prose,
    prose_offset: usize,
    cursor: usize,
) -> bool {
    let Some(last) = prose.text()[..prose_offset].char_indices().next_back() else {
        return true;
    };
    let source = prose.source_range(snapshot, last.0..last.0 + last.1.len_utf8());
    let gap = snapshot
        .text
        .get(source.end.min(cursor)..cursor)
        .unwrap_or("");
    !gap.chars().any(char::is_alphanumeric)
}

fn item(
    completion: &Completion,
    rank: usize,
    new_text: String,
    range: tower_lsp::lsp_types::Range,
) -> CompletionItem {
    let examples = match completion.support_count {
        0 => "no corpus examples".to_string(),
        1 => "1 corpus example".to_string(),
        n => format!("{n} corpus examples"),
    };
    let detail = format!(
        "{}p {:.2} (LM {:.2}, corpus {:.2}) · {examples}",
        if completion.is_phrase {
            "phrase · "
        } else {
            ""
        },
        completion.probability,
        completion.lm_probability,
        completion.knn_probability
    );
    let documentation = (!completion.support.is_empty()).then(|| {
        let mut markdown = String::from("**Used like this in the corpus:**\n\n");
        for sentence in &completion.support {
            markdown.push_str(&evidence_markdown(sentence));
            markdown.push('\n');
        }
        Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        })
    });
    CompletionItem {
        label: completion.text.clone(),
        kind: Some(if completion.is_phrase {
            CompletionItemKind::SNIPPET
        } else {
            CompletionItemKind::TEXT
        }),
        detail: Some(detail),
        documentation,
        sort_text: Some(format!("{rank:04}")),
        // Clients filter by this against the typed prefix; keep every item visible.
        filter_text: Some(completion.text.clone()),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit { range, new_text })),
        preselect: Some(rank == 0),
        ..CompletionItem::default()
    }
}
