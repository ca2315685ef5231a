//! textDocument/codeAction for word-choice hints: replace, ignore here, ignore everywhere.

use std::collections::HashMap;

use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, Command, Diagnostic,
    Position, Range, TextEdit, WorkspaceEdit,
};

use super::diagnostics::{is_hint_code, SOURCE};
use crate::protocol::{HintData, IgnoreArguments, IGNORE_HERE, IGNORE_IN_WORKSPACE};

pub fn code_actions(params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
    let mut actions = Vec::new();
    // Only the hints at the requested range: a client may send every diagnostic of the
    // line (Neovim does), and a writer on "log" wants the fix of "log in", not a menu of
    // the line's.
    let at_range = params
        .context
        .diagnostics
        .iter()
        .filter(|d| overlaps(&d.range, &params.range));
    for diagnostic in at_range {
        let ours = diagnostic.source.as_deref() == Some(SOURCE)
            && matches!(&diagnostic.code,
                Some(tower_lsp_server::ls_types::NumberOrString::String(code)) if is_hint_code(code));
        let Some(data) = diagnostic.data.clone().filter(|_| ours) else {
            continue;
        };
        let Ok(HintData {
            word,
            preferred,
            sentence_fingerprint,
            ..
        }) = serde_json::from_value(data)
        else {
            continue;
        };
        let replacement = match_case(&word, &preferred);
        let edit = WorkspaceEdit {
            changes: Some(HashMap::from([(
                params.text_document.uri.clone(),
                vec![TextEdit {
                    range: diagnostic.range,
                    new_text: replacement.clone(),
                }],
            )])),
            ..WorkspaceEdit::default()
        };
        actions.push(action(
            format!("Replace with \u{201c}{replacement}\u{201d}"),
            diagnostic,
            Some(edit),
            None,
            true,
        ));
        let uri = params.text_document.uri.to_string();
        let arguments = |sentence_fingerprint: Option<String>| {
            serde_json::to_value(IgnoreArguments {
                uri: uri.clone(),
                word: word.clone(),
                sentence_fingerprint,
            })
            .ok()
            .map(|argument| vec![argument])
        };
        actions.push(action(
            format!("Ignore \u{201c}{word}\u{201d} here"),
            diagnostic,
            None,
            Some(Command {
                title: format!("Ignore \u{201c}{word}\u{201d} here"),
                command: IGNORE_HERE.to_string(),
                arguments: arguments(Some(sentence_fingerprint.clone())),
            }),
            false,
        ));
        actions.push(action(
            format!("Ignore \u{201c}{word}\u{201d} in this workspace"),
            diagnostic,
            None,
            Some(Command {
                title: format!("Ignore \u{201c}{word}\u{201d} in this workspace"),
                command: IGNORE_IN_WORKSPACE.to_string(),
                arguments: arguments(None),
            }),
            false,
        ));
    }
    actions
}

/// Whether two ranges share a position (touching counts: a cursor right after a word is
/// on it).
fn overlaps(a: &Range, b: &Range) -> bool {
    let before = |x: &Position, y: &Position| (x.line, x.character) < (y.line, y.character);
    !before(&a.end, &b.start) && !before(&b.end, &a.start)
}

fn action(
    title: String,
    diagnostic: &Diagnostic,
    edit: Option<WorkspaceEdit>,
    command: Option<Command>,
    preferred: bool,
) -> CodeActionOrCommand {
    CodeActionOrCommand::CodeAction(CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic.clone()]),
        edit,
        command,
        is_preferred: Some(preferred),
        ..CodeAction::default()
    })
}

/// The preferred word with the written word's capitalisation ("Utilise" → "Use").
pub fn match_case(written: &str, preferred: &str) -> String {
    let capitalised = written.chars().next().is_some_and(char::is_uppercase)
        && !written.chars().skip(1).any(char::is_uppercase);
    if capitalised {
        let mut chars = preferred.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    } else {
        preferred.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hints_at_the_requested_range_get_actions() {
        let at = |line, start, end| Range {
            start: Position::new(line, start),
            end: Position::new(line, end),
        };
        // (a hint's range, the requested range, overlapping)
        let cases = [
            (at(4, 13, 19), at(4, 14, 14), true),
            (at(4, 13, 19), at(4, 19, 19), true),
            (at(4, 13, 19), at(4, 13, 13), true),
            (at(4, 13, 19), at(4, 28, 28), false),
            (at(4, 13, 19), at(3, 0, 80), false),
            (at(4, 13, 19), at(0, 0, 9), false),
            // A selection over several lines.
            (
                at(4, 13, 19),
                Range {
                    start: Position::new(0, 0),
                    end: Position::new(4, 14),
                },
                true,
            ),
        ];
        for (hint, requested, expected) in cases {
            assert_eq!(
                overlaps(&hint, &requested),
                expected,
                "{hint:?} {requested:?}"
            );
        }
    }

    #[test]
    fn replacements_keep_the_capital() {
        let cases = [
            ("Utilise", "use", "Use"),
            ("utilise", "use", "use"),
            ("NASA", "nasa", "nasa"),
            ("Über", "über", "Über"),
        ];
        for (written, preferred, expected) in cases {
            assert_eq!(match_case(written, preferred), expected);
        }
    }
}
