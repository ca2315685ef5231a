//! What a writer sees in the editor, through the real server in-process: completion items,
//! hover Markdown, hints and their quick fixes, on the tiny model and a small corpus.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{mask_numbers, test_home, TestClient};
use expect_test::expect;
use serde_json::{json, Value};

const DISTINCTIVE: &str = "The zebra council approves purple umbrellas every Thursday.";

/// The index of a corpus that repeats one distinctive sentence, built once per binary.
fn corpus_index() -> &'static Path {
    static INDEX: OnceLock<PathBuf> = OnceLock::new();
    INDEX.get_or_init(|| {
        let dir = test_home().join("corpus");
        let text = format!("# Council notes\n\n{}\n", [DISTINCTIVE; 12].join(" "));
        precedent_testing::write_corpus(&dir, &[("zebra.md", &text)]);
        let out = test_home().join("team.index");
        precedent_testing::build_index(&dir, &out);
        out
    })
}

/// The index of a corpus that writes its word in three sentences, as a word-choice hint
/// needs ([`precedent_testing::COUNCIL_HABIT`]), built once per binary.
fn habit_index() -> &'static Path {
    static INDEX: OnceLock<PathBuf> = OnceLock::new();
    INDEX.get_or_init(|| {
        let dir = test_home().join("habit-corpus");
        let paragraph = precedent_testing::COUNCIL_HABIT.repeat(4).join(" ");
        let text = format!("# Council notes\n\n{paragraph}\n");
        precedent_testing::write_corpus(&dir, &[("zebra.md", &text)]);
        let out = test_home().join("habit.index");
        precedent_testing::build_index(&dir, &out);
        out
    })
}

/// The tiny model's keys see little beyond the last token, and it is no judge of fluency:
/// the hints' fluency check is left out (as in tests/test_lsp.py).
fn settings() -> Value {
    json!({
        "indexPaths": [corpus_index()],
        "k": 8, "lambda": 0.5, "temperature": 1.0, "documentCache": false,
        "hints": {"minPreferredProbability": 0.4, "maxFluencyLoss": 1e300},
    })
}

/// [`settings`] with the index of [`habit_index`], for word-choice hints.
fn hint_settings() -> Value {
    let mut settings = settings();
    settings["indexPaths"] = json!([habit_index()]);
    settings
}

fn workspace(name: &str) -> PathBuf {
    let dir = test_home().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn position(line: u32, character: u32) -> Value {
    json!({"line": line, "character": character})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_lists_the_corpus_word_first_with_its_evidence() {
    let root = workspace("completion");
    let mut client = TestClient::start(&root, settings()).await;
    let text = "# Notes\n\nEvery Thursday. The zebra council approves purple ";
    let uri = client.open(&root.join("notes.md"), text).await;
    let list = client
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": position(2, 50)}),
        )
        .await;
    let first = &list["items"][0];
    let shown = format!(
        "{} · {}\n{}",
        first["label"].as_str().unwrap(),
        first["detail"].as_str().unwrap(),
        first["documentation"]["value"].as_str().unwrap()
    );
    let shown = mask_numbers(&shown);
    expect![[r#"
        umbrellas · p #.## (LM #.##, corpus #.##) · 1 corpus example
        **Used like this in the corpus:**

        - `corpus/zebra.md:3` (#.##): The zebra council approves purple **umbrellas** every Thursday.
    "#]]
    .assert_eq(&shown);
    client.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_shows_the_word_the_corpus_prefers_with_its_sentences() {
    let root = workspace("hover");
    let mut client = TestClient::start(&root, settings()).await;
    let text =
        "# Notes\n\nEvery Thursday. The zebra council approves purple coats every Thursday.\n";
    let uri = client.open(&root.join("notes.md"), text).await;
    let hover = client
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": position(2, 53)}),
        )
        .await;
    assert_eq!(
        hover["range"],
        json!({"start": position(2, 50), "end": position(2, 55)})
    );
    let markdown = mask_numbers(hover["contents"]["value"].as_str().unwrap());
    expect![[r#"
        **precedent** · *coats* here: p #.## (LM #.##, corpus #.##)

        No similar usage in the corpus.

        **The corpus prefers *umbrellas* here:** p #.## (LM #.##, corpus #.##); the corpus writes *umbrellas* 12 times, *coats* never

        - `corpus/zebra.md:3` (#.##): The zebra council approves purple **umbrellas** every Thursday.
    "#]].assert_eq(&markdown);
    client.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_a_hint_here_keeps_it_in_other_sentences() {
    let root = workspace("ignore-here");
    let mut client = TestClient::start(&root, hint_settings()).await;
    let text =
        "# Notes\n\nEvery Thursday. The zebra council approves purple coats every Thursday.\n\n\
                Every Friday. The zebra council approves purple coats on Fridays too.\n";
    let uri = client.open(&root.join("notes.md"), text).await;
    let hints = client.diagnostics(&uri, 1).await;
    let found = |hints: &[Value]| -> Vec<(u64, String)> {
        hints
            .iter()
            .map(|d| {
                let line = d["range"]["start"]["line"].as_u64().unwrap();
                (line, d["data"]["word"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let before = found(&hints);
    assert!(before.contains(&(2, "coats".into())), "{before:?}");
    assert!(before.contains(&(4, "coats".into())), "{before:?}");
    assert_eq!(hints[0]["data"]["preferred"], "umbrellas");
    // The corpus sentence, as a place in the corpus file the editor can open.
    let corpus_file = test_home().join("habit-corpus").join("zebra.md");
    let related = &hints[0]["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], common::uri(&corpus_file));
    assert_eq!(related["message"], format!("The corpus: {DISTINCTIVE}"));
    let range = &related["location"]["range"];
    let (start, end) = (&range["start"], &range["end"]);
    assert_eq!(
        (start["line"].as_u64(), end["line"].as_u64()),
        (Some(2), Some(2))
    );
    let columns = end["character"].as_u64().unwrap() - start["character"].as_u64().unwrap();
    assert_eq!(
        columns as usize,
        DISTINCTIVE.len(),
        "the sentence, on line 3 of the file"
    );

    let actions = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": hints[0]["range"],
                   "context": {"diagnostics": [hints[0]]}}),
        )
        .await;
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Replace with \u{201c}umbrellas\u{201d}",
            "Ignore \u{201c}coats\u{201d} here",
            "Ignore \u{201c}coats\u{201d} in this workspace"
        ]
    );
    client
        .request("workspace/executeCommand", actions[1]["command"].clone())
        .await;
    client.replace(&uri, 2, text).await;
    let after = found(&client.diagnostics(&uri, 2).await);
    let expected: Vec<_> = before.into_iter().filter(|(line, _)| *line != 2).collect();
    assert_eq!(after, expected, "only the other sentence keeps its hint");
    client.shut_down().await;
}

/// The team's page on the hint's kind (`hints.docsUrl`, only when set and valid) and the
/// Deprecated tag for a word the corpus never writes (only for a client that shows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_links_the_team_page_on_its_kind_and_strikes_out_a_word_the_corpus_never_writes() {
    let root = workspace("rich-diagnostics");
    let style_page = "https://wiki.example.com/style#{kind}";
    let tags = |value_set: Value| json!({"textDocument": {"publishDiagnostics": {"tagSupport": {"valueSet": value_set}}}});
    // (hints.docsUrl, client capabilities, codeDescription, tags)
    let cases = [
        (
            json!(style_page),
            tags(json!([1, 2])),
            json!({"href": "https://wiki.example.com/style#word-choice"}),
            json!([2]),
        ),
        (Value::Null, json!({}), Value::Null, Value::Null),
        // Eglot 1.9 shows both tags; a client that shows only Unnecessary gets none.
        (json!(""), tags(json!([1])), Value::Null, Value::Null),
        // Refused (the log names hints.docsUrl): no link rather than a broken one.
        (
            json!("wiki/style#{kind}"),
            tags(json!([2])),
            Value::Null,
            json!([2]),
        ),
    ];
    let text =
        "# Notes\n\nEvery Thursday. The zebra council approves purple coats every Thursday.\n";
    for (docs_url, capabilities, code_description, tags) in cases {
        let mut settings = hint_settings();
        settings["hints"]["docsUrl"] = docs_url.clone();
        let mut client = TestClient::start_with(&root, settings, capabilities.clone()).await;
        let uri = client.open(&root.join("notes.md"), text).await;
        let hints = client.diagnostics(&uri, 1).await;
        let case = format!("docsUrl {docs_url}, capabilities {capabilities}");
        let coats = hints
            .iter()
            .find(|d| d["data"]["word"] == "coats")
            .unwrap_or_else(|| panic!("{case}: no hint on coats in {hints:?}"));
        assert_eq!(coats["code"], "word-choice", "{case}");
        assert_eq!(coats["codeDescription"], code_description, "{case}");
        assert_eq!(coats["tags"], tags, "{case}");
        client.shut_down().await;
    }
}

/// Eglot gives its settings as initializationOptions, then announces a configuration change
/// with null settings, and answers the server's workspace/configuration request with null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_configuration_keeps_the_settings_given_at_initialization() {
    let root = workspace("null-configuration");
    for capabilities in [json!({}), json!({"workspace": {"configuration": true}})] {
        let mut client = TestClient::start_with(&root, settings(), capabilities.clone()).await;
        client
            .notify(
                "workspace/didChangeConfiguration",
                json!({"settings": null}),
            )
            .await;
        let status = client
            .notification(|m| m["method"] == "precedent/statusChanged")
            .await;
        let indexes: Vec<&str> = status["params"]["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            indexes,
            [corpus_index().to_str().unwrap()],
            "with capabilities {capabilities}"
        );
        assert_eq!(status["params"]["k"], 8, "with capabilities {capabilities}");
        client.shut_down().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghost_text_is_the_phrase_the_model_and_corpus_are_sure_of_and_nothing_otherwise() {
    let root = workspace("inline");
    let mut client = TestClient::start(&root, settings()).await;
    let text = "# Notes\n\nEvery Thursday. The zebra council approves purple \n\nWe ";
    let uri = client.open(&root.join("notes.md"), text).await;
    let ghost_at = |line, character| {
        json!({
            "textDocument": {"uri": uri},
            "position": position(line, character),
            "context": {"triggerKind": 2},
        })
    };
    let sure = client
        .request("textDocument/inlineCompletion", ghost_at(2, 50))
        .await;
    expect![[r#"[{"filterText":"umbrellas every","insertText":"umbrellas every","range":{"end":{"character":50,"line":2},"start":{"character":50,"line":2}}}]"#]]
    .assert_eq(&sure.to_string());
    let unsure = client
        .request("textDocument/inlineCompletion", ghost_at(4, 3))
        .await;
    assert_eq!(unsure, Value::Null, "no ghost text without a sure word");
    client.shut_down().await;
}
