//! textDocument/completion: the assistant's next words (and a phrase) at the cursor as
//! completion items; textDocument/inlineCompletion (LSP 3.18): the phrase, or a sure next
//! word, as ghost text.

use precedent_engine::assist::{Completions, SuggestedText};
use precedent_engine::editing::CompletionOptions;
use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionItemTag, CompletionList, CompletionTextEdit,
    Documentation, InlineCompletionItem, InlineCompletionResponse, MarkupContent, MarkupKind,
    Position, TextEdit,
};

use super::{evidence_markdown, hint_thresholds, DocumentRequest};

/// The assistant's completions at `position`, as the settings ask for them.
fn completions_at(request: &DocumentRequest, position: Position) -> Option<Completions> {
    let DocumentRequest {
        assistant,
        snapshot,
        settings,
        corpora,
        is_current,
    } = request;
    if !settings.completion.enabled {
        return None;
    }
    let options = CompletionOptions {
        max_items: settings.completion.max_items,
        phrase_words: settings.completion.phrase_words,
        phrase_min_probability: settings.completion.phrase_min_probability,
        ..CompletionOptions::default()
    };
    let cursor = snapshot.offset(position);
    let thresholds = hint_thresholds(settings);
    assistant.completions(
        &snapshot.document,
        corpora,
        cursor,
        &options,
        &thresholds,
        is_current,
    )
}

/// Ghost text at `position`: the completion the assistant is sure of ([`Completions::sure`]);
/// nothing when it is not.
pub fn inline_completion(
    request: &DocumentRequest,
    position: Position,
) -> Option<InlineCompletionResponse> {
    let completions = completions_at(request, position)?;
    let sure = completions.sure(request.settings.completion.phrase_min_probability)?;
    Some(InlineCompletionResponse::Array(vec![
        InlineCompletionItem {
            insert_text: sure.insert.clone(),
            filter_text: Some(sure.completion.text.clone()),
            range: Some(request.snapshot.range(completions.replace.clone())),
            command: None,
            insert_text_format: None,
        },
    ]))
}

/// Completions at `position`, best first.
pub fn completion(request: &DocumentRequest, position: Position) -> Option<CompletionList> {
    let completions = completions_at(request, position)?;
    let range = request.snapshot.range(completions.replace);
    let items = completions
        .items
        .into_iter()
        .enumerate()
        .map(|(rank, suggested)| item(suggested, rank, range))
        .collect();
    Some(CompletionList {
        is_incomplete: true,
        items,
    })
}

fn item(
    suggested: SuggestedText,
    rank: usize,
    range: tower_lsp_server::ls_types::Range,
) -> CompletionItem {
    let completion = &suggested.completion;
    let examples = match completion.support_count {
        0 => "no corpus examples".to_string(),
        1 => "1 corpus example".to_string(),
        n => format!("{n} corpus examples"),
    };
    // A word the corpus's style guide rules out: struck through where the client shows
    // the tag (clients that do not ignore it).
    let ruled_out = suggested
        .ruled_out_by
        .as_ref()
        .map(|house| format!(" · the corpus says to write \u{201c}{house}\u{201d}"));
    let detail = format!(
        "{}p {:.2} (LM {:.2}, corpus {:.2}) · {examples}{}",
        if completion.is_phrase {
            "phrase · "
        } else {
            ""
        },
        completion.probability,
        completion.lm_probability,
        completion.knn_probability,
        ruled_out.as_deref().unwrap_or_default()
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
        text_edit: Some(CompletionTextEdit::Edit(TextEdit {
            range,
            new_text: suggested.insert.clone(),
        })),
        tags: ruled_out.map(|_| vec![CompletionItemTag::DEPRECATED]),
        preselect: Some(rank == 0),
        ..CompletionItem::default()
    }
}
