//! Indexing a corpus with the tiny model, then retrieving, suggesting and evaluating.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use precedent_engine::datastore::Datastore;
use precedent_engine::editing;
use precedent_engine::evaluate::{self, EvalOptions};
use precedent_engine::indexer::{self, IndexError, IndexOptions, IndexReport, KeyContext};
use precedent_engine::knnlm::{self, CorpusIndex, KnnParams};
use precedent_engine::search::{NeighbourIndex, SearchOptions};

use precedent_testing::tiny_model;

/// A sentence no model would predict, repeated so the corpus is sure of its continuation.
const DISTINCTIVE: &str = "The zebra council approves purple umbrellas every Thursday.";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn distinctive_corpus(dir: &Path) {
    let paragraph = [DISTINCTIVE; 12].join(" ");
    write(
        dir,
        "zebra.md",
        &format!("# Council notes\n\n{paragraph}\n"),
    );
    write(dir, "other.txt", precedent_testing::PROSE);
}

fn index(corpus: &Path, out: &Path, full: bool) -> IndexReport {
    let options = IndexOptions {
        window: 64,
        stride: 32,
        keys: KeyContext::Windows,
        full_rebuild: full,
        ..IndexOptions::default()
    };
    build(corpus, out, &options).unwrap()
}

/// Indexes `corpus` into `out` with the tiny model and `options`, without progress.
fn build(corpus: &Path, out: &Path, options: &IndexOptions) -> Result<IndexReport, IndexError> {
    indexer::build_index(
        tiny_model(),
        &[corpus.to_path_buf()],
        out,
        options,
        &mut |_| {},
    )
}

fn open(path: &Path, params: KnnParams) -> CorpusIndex {
    let store = Datastore::open(path, Some(&tiny_model().manifest().fingerprint)).unwrap();
    CorpusIndex::new(
        NeighbourIndex::new(Arc::new(store), SearchOptions::default()).unwrap(),
        params,
    )
}

fn params() -> KnnParams {
    KnnParams {
        k: 8,
        lambda: 0.5,
        temperature: 1.0,
        adaptive_lambda: None,
        document_cache: false,
        cache_skip_recent: 0,
    }
}

#[test]
fn every_target_token_gets_one_entry_with_its_sentence() {
    let dir = tempfile::tempdir().unwrap();
    distinctive_corpus(dir.path());
    let out = dir.path().join("corpus.index");
    let report = index(dir.path(), &out, false);
    let tokenizer = tiny_model().tokenizer();
    let zebra_tokens = tokenizer
        .encode(&format!("Council notes\n\n{}", [DISTINCTIVE; 12].join(" ")))
        .unwrap()
        .len();
    let prose_tokens = tokenizer.encode(precedent_testing::PROSE).unwrap().len();
    // One entry per token after the first of each document.
    assert_eq!(report.entries, zebra_tokens - 1 + prose_tokens - 1);
    assert_eq!(report.documents, 2);

    let store = Datastore::open(&out, None).unwrap();
    // " umbrellas" is several tokens; its first one, " umb", is an entry of its own.
    let first = tokenizer.encode(" umbrellas").unwrap()[0];
    let entry = store.values().iter().position(|&v| v == first).unwrap();
    let provenance = store.provenance()[entry];
    let sentence = store
        .sentence(provenance.document, provenance.sentence)
        .unwrap();
    assert_eq!(sentence.text.trim(), DISTINCTIVE);
    assert_eq!(
        &sentence.text[provenance.start as usize..provenance.end as usize],
        "umb"
    );
    assert_eq!(provenance.line, 3);
}

#[test]
fn a_repeated_sentence_makes_knn_lm_predict_its_continuation() {
    let dir = tempfile::tempdir().unwrap();
    distinctive_corpus(dir.path());
    let out = dir.path().join("corpus.index");
    index(dir.path(), &out, false);
    let corpus = open(&out, params());

    let model = tiny_model();
    let tokens = model
        .tokenizer()
        .encode("Meeting minutes. The zebra council approves purple")
        .unwrap();
    let target = model.tokenizer().encode(" umbrellas").unwrap()[0];
    let context = model.new_context();
    let next = context.next_token(&tokens).unwrap();
    let base_best = precedent_engine::lm::argmax(&next.log_probs);
    assert_ne!(
        base_best, target,
        "the random tiny model should not know the sentence"
    );

    let knn = knnlm::predict_knn(&[&corpus], None, &corpus.params, &next.knn_key).unwrap();
    let top = knnlm::top_tokens(&next.log_probs, Some(&knn), 3);
    assert_eq!(
        top[0].0, target,
        "kNN-LM ranks the corpus continuation first"
    );
    assert!(knn.distribution.prob(target) > 0.9);

    let query = editing::CompletionQuery {
        tokens_before: &tokens,
        prefix: "",
        leading_space: true,
    };
    let options = editing::CompletionOptions::default();
    let suggestions =
        editing::complete(&context, &[&corpus], None, &corpus.params, &query, &options).unwrap();
    assert_eq!(suggestions[0].text, "umbrellas");
    let support = &suggestions[0].support[0];
    assert!(support.path.as_deref().unwrap().ends_with("zebra.md"));
    assert!("umbrellas".starts_with(&support.sentence[support.mark.clone()]));
}

#[test]
fn reindexing_reuses_unchanged_documents_and_equals_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    distinctive_corpus(&corpus);
    write(
        &corpus,
        "gone.md",
        "This document will be removed before the second run.",
    );
    let incremental = dir.path().join("incremental.index");
    let first = index(&corpus, &incremental, false);
    assert_eq!((first.documents, first.reused_documents), (3, 0));

    std::fs::remove_file(corpus.join("gone.md")).unwrap();
    write(
        &corpus,
        "other.txt",
        "A changed document now says something else entirely.",
    );
    write(&corpus, "new.md", "A new document joins the corpus.");
    let second = index(&corpus, &incremental, false);
    assert_eq!(
        (
            second.documents,
            second.reused_documents,
            second.removed_documents
        ),
        (3, 1, 2)
    );

    let full = dir.path().join("full.index");
    index(&corpus, &full, true);
    let (a, b) = (
        Datastore::open(&incremental, None).unwrap(),
        Datastore::open(&full, None).unwrap(),
    );
    assert_eq!(a.values(), b.values());
    assert_eq!(a.provenance(), b.provenance());
    assert_eq!(a.keys().as_slice(), b.keys().as_slice());
}

#[test]
fn reindexing_with_other_windows_keys_or_inline_code_re_encodes_every_document() {
    let dir = tempfile::tempdir().unwrap();
    distinctive_corpus(dir.path());
    let out = dir.path().join("corpus.index");
    let first = index(dir.path(), &out, false);
    // (what changes, how)
    type Change = (&'static str, fn(&mut IndexOptions));
    let changes: [Change; 5] = [
        ("nothing", |_| {}),
        ("the window", |o| o.window = 48),
        ("the stride", |o| o.stride = 16),
        ("inline code kept", |o| o.corpus.keep_inline_code = true),
        ("keys by blocks", |o| o.keys = KeyContext::Blocks),
    ];
    for (what, change) in changes {
        let mut options = IndexOptions {
            window: 64,
            stride: 32,
            keys: KeyContext::Windows,
            ..IndexOptions::default()
        };
        change(&mut options);
        // Back to the first settings, then the change.
        index(dir.path(), &out, true);
        let report = build(dir.path(), &out, &options).unwrap();
        let expected = if what == "nothing" {
            first.documents
        } else {
            0
        };
        assert_eq!(report.reused_documents, expected, "changed: {what}");
        let encoding =
            indexer::Encoding::from_metadata(Datastore::open(&out, None).unwrap().metadata());
        assert_eq!(encoding, indexer::Encoding::of(&options), "changed: {what}");
    }
}

#[test]
fn windows_longer_than_the_model_context_are_refused_before_reading_the_corpus() {
    let dir = tempfile::tempdir().unwrap();
    distinctive_corpus(dir.path());
    let out = dir.path().join("corpus.index");
    let context = tiny_model().manifest().max_positions;
    let options = IndexOptions {
        window: context + 1,
        stride: context / 2,
        ..IndexOptions::default()
    };
    let error = build(dir.path(), &out, &options).unwrap_err().to_string();
    assert!(
        error.contains(&format!("model's context ({context} tokens)")),
        "{error}"
    );
    assert!(!out.exists());
}

#[test]
fn an_index_of_another_model_is_refused_with_how_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    distinctive_corpus(dir.path());
    let out = dir.path().join("corpus.index");
    index(dir.path(), &out, false);
    let error = Datastore::open(&out, Some("some-other-model"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("precedent index"), "{error}");
}

#[test]
fn evaluation_shows_the_corpus_lowering_held_out_perplexity() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let held_out = dir.path().join("held-out");
    std::fs::create_dir(&corpus).unwrap();
    std::fs::create_dir(&held_out).unwrap();
    distinctive_corpus(&corpus);
    write(&held_out, "a.md", &[DISTINCTIVE; 3].join(" "));
    let out = dir.path().join("corpus.index");
    index(&corpus, &out, false);
    let corpus = open(&out, params());
    let options = EvalOptions {
        corpus: Default::default(),
        window: 64,
        stride: 32,
        keys: KeyContext::Windows,
        tune: false,
    };
    let report = evaluate::evaluate(
        tiny_model(),
        &corpus,
        &corpus.params,
        &[PathBuf::from(&held_out)],
        &options,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        report.tokens + 1,
        tiny_model()
            .tokenizer()
            .encode(&[DISTINCTIVE; 3].join(" "))
            .unwrap()
            .len()
    );
    assert!(report.knn_ppl < report.base_ppl / 2.0, "{report:?}");
    assert!(report.knn_top1 > report.base_top1, "{report:?}");
    // One paragraph shorter than a window: the editor reads it exactly as the windows do.
    let editor = &report.editor_view;
    assert_eq!(editor.tokens, report.tokens);
    assert!((editor.base_ppl - report.base_ppl).abs() < 1e-6 * report.base_ppl);
    assert!((editor.knn_ppl - report.knn_ppl).abs() < 1e-6 * report.knn_ppl);
}

#[test]
fn tuning_fits_on_half_the_held_out_documents_and_reports_on_the_other_half() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let held_out = dir.path().join("held-out");
    std::fs::create_dir(&corpus).unwrap();
    std::fs::create_dir(&held_out).unwrap();
    distinctive_corpus(&corpus);
    for (name, repeats) in [("a.md", 2), ("b.md", 3), ("c.md", 2), ("d.md", 3)] {
        write(&held_out, name, &vec![DISTINCTIVE; repeats].join(" "));
    }
    let out = dir.path().join("corpus.index");
    index(&corpus, &out, false);
    let corpus = open(&out, params());
    let options = EvalOptions {
        corpus: Default::default(),
        window: 64,
        stride: 32,
        keys: KeyContext::Windows,
        tune: true,
    };
    let report = evaluate::evaluate(
        tiny_model(),
        &corpus,
        &corpus.params,
        &[held_out],
        &options,
        &mut |_, _| {},
    )
    .unwrap();
    let tokens = |repeats: usize| {
        tiny_model()
            .tokenizer()
            .encode(&vec![DISTINCTIVE; repeats].join(" "))
            .unwrap()
            .len()
            - 1
    };
    // Documents a and c (2 repeats each) fit the parameters; b and d (3 each) measure them.
    assert_eq!(report.tuned_on_tokens, Some(2 * tokens(2)));
    assert_eq!(report.tokens, 2 * tokens(3));
    assert_eq!(report.variants.len(), 4);
    let chosen = report
        .variants
        .iter()
        .find(|v| {
            v.document_cache == report.document_cache && v.adaptive_lambda == report.adaptive_lambda
        })
        .unwrap();
    assert!((chosen.knn_ppl - report.knn_ppl).abs() < 1e-9);
    assert!(report.knn_ppl < report.base_ppl);
    assert!((0.0..=1.0).contains(&report.lambda) && report.temperature > 0.0);
}

/// Makes the first key of the index at `path` a NaN (f16 0x7E00) in place, as a bad disk or
/// a bug would, leaving the header and its checksums as they were.
fn damage_first_key(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let keys_start = 4096; // the keys follow the page-sized header
    bytes[keys_start..keys_start + 2].copy_from_slice(&[0x00, 0x7E]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_index_is_caught_and_not_copied_into_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    distinctive_corpus(&corpus);
    let out = dir.path().join("corpus.index");
    index(&corpus, &out, false);
    damage_first_key(&out);
    let error = Datastore::open(&out, None).unwrap().verify().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the keys section fails its checksum"),
        "{error}"
    );

    // Nothing changed in the corpus, but the damaged entries are not reused.
    let report = index(&corpus, &out, false);
    assert_eq!(report.reused_documents, 0);
    Datastore::open(&out, None).unwrap().verify().unwrap();
}

#[test]
fn tuned_parameters_outlive_a_reindex_which_says_when_the_corpus_changed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    distinctive_corpus(&corpus);
    let out = dir.path().join("corpus.index");
    index(&corpus, &out, false);
    let tuned = KnnParams {
        lambda: 0.4,
        temperature: 2.5,
        ..KnnParams::default()
    };
    let store = Datastore::open(&out, None).unwrap();
    let mut metadata = store.metadata().clone();
    metadata["knn"] = serde_json::to_value(&tuned).unwrap();
    store.save_with_metadata(&out, &metadata).unwrap();
    drop(store);

    // (what happens to the corpus, whether the parameters are flagged as older)
    type Step = (&'static str, fn(&Path), bool);
    let steps: [Step; 2] = [
        ("nothing", |_| {}, false),
        (
            "a new document",
            |c| write(c, "new.md", "A new document joins the corpus."),
            true,
        ),
    ];
    for (what, change, older) in steps {
        change(&corpus);
        index(&corpus, &out, false);
        let store = Datastore::open(&out, None).unwrap();
        let metadata = store.metadata();
        assert_eq!(KnnParams::from_metadata(metadata), tuned, "after {what}");
        assert_eq!(
            metadata[indexer::TUNED_ON_OLDER_CORPUS],
            serde_json::Value::Bool(older),
            "after {what}"
        );
    }
}
