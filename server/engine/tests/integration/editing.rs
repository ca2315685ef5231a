//! Assistance for a document being written, on the tiny model and a corpus with one
//! distinctive sentence: block analysis (and its incremental form), completion, similar
//! usage and word-choice hints.

use std::path::Path;
use std::sync::Arc;

use precedent_engine::datastore::Datastore;
use precedent_engine::editing::{
    self, AnalysisOptions, BlockAnalysis, CompletionOptions, CompletionQuery, HintKind,
    HintThresholds,
};
use precedent_engine::evidence;
use precedent_engine::indexer::{self, IndexOptions, KeyContext};
use precedent_engine::knnlm::{self, CorpusIndex, KnnParams};
use precedent_engine::lm::log_softmax;
use precedent_engine::search::{NeighbourIndex, SearchOptions};

use precedent_testing::{tiny_model, COUNCIL_HABIT as HABIT};

const DISTINCTIVE: &str = "The zebra council approves purple umbrellas every Thursday.";

/// A corpus whose zebra.md writes `DISTINCTIVE` 12 times.
fn corpus(dir: &Path) -> CorpusIndex {
    corpus_of(dir, &[DISTINCTIVE; 12].join(" "))
}

/// A corpus whose zebra.md is `paragraph`, beside some other prose.
fn corpus_of(dir: &Path, paragraph: &str) -> CorpusIndex {
    std::fs::write(
        dir.join("zebra.md"),
        format!("# Council notes\n\n{paragraph}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("other.txt"), precedent_testing::PROSE).unwrap();
    let out = dir.join("corpus.index");
    precedent_testing::build_index(dir, &out);
    let store = Datastore::open(&out, Some(&tiny_model().manifest().fingerprint)).unwrap();
    CorpusIndex::new(
        NeighbourIndex::new(Arc::new(store), SearchOptions::default()).unwrap(),
        KnnParams {
            k: 8,
            lambda: 0.5,
            temperature: 1.0,
            adaptive_lambda: None,
            document_cache: false,
            cache_skip_recent: 0,
        },
    )
}

fn analyze(corpus: &CorpusIndex, text: &str, previous: Option<&BlockAnalysis>) -> BlockAnalysis {
    analyze_with(corpus, text, previous, &AnalysisOptions::default())
}

fn analyze_with(
    corpus: &CorpusIndex,
    text: &str,
    previous: Option<&BlockAnalysis>,
    options: &AnalysisOptions,
) -> BlockAnalysis {
    let context = tiny_model().new_context();
    editing::analyze_block(&context, &[corpus], text, previous, options, &|| false)
        .unwrap()
        .unwrap()
}

#[test]
fn an_edited_block_reuses_the_analysis_of_its_unchanged_start() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let before = analyze(
        &corpus,
        "Our zebra council approves purple umbrellas on Monday.",
        None,
    );
    let edited = "Our zebra council approves purple umbrellas on Friday mornings.";
    let incremental = analyze(&corpus, edited, Some(&before));
    let full = analyze(&corpus, edited, None);

    let words = |a: &BlockAnalysis| -> Vec<String> {
        a.words
            .iter()
            .map(|w| a.text[w.bytes.clone()].to_string())
            .collect()
    };
    assert_eq!(
        words(&full),
        [
            "zebra",
            "council",
            "approves",
            "purple",
            "umbrellas",
            "on",
            "Friday",
            "mornings"
        ]
    );
    assert_eq!(words(&incremental), words(&full));
    for (a, b) in incremental.words.iter().zip(&full.words) {
        assert_eq!((a.token_index, a.written), (b.token_index, b.written));
        let tokens =
            |w: &editing::WordAnalysis| w.neighbours.iter().map(|n| n.token).collect::<Vec<_>>();
        assert_eq!(tokens(a), tokens(b));
        for ((ta, pa), (tb, pb)) in a.lm_log_probs.iter().zip(&b.lm_log_probs) {
            assert_eq!(ta, tb);
            assert!((pa - pb).abs() < 1e-3, "{pa} vs {pb}");
        }
    }
    let keys = |a: &BlockAnalysis| {
        a.entries()
            .map(|(k, t)| (k.to_vec(), t))
            .collect::<Vec<_>>()
    };
    for ((ka, ta), (kb, tb)) in keys(&incremental).iter().zip(&keys(&full)) {
        assert_eq!(ta, tb);
        let diff = ka
            .iter()
            .zip(kb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-3, "keys differ by {diff}");
    }
    assert_eq!(keys(&incremental).len(), full.tokens.len() - 1);
    for position in 0..full.tokens.len() - 1 {
        let (a, b) = (
            incremental.next_log_prob(position).unwrap(),
            full.next_log_prob(position).unwrap(),
        );
        assert!((a - b).abs() < 1e-3, "position {position}: {a} vs {b}");
    }
}

#[test]
fn the_analysis_scores_the_block_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let text = "Our zebra council approves purple umbrellas on Monday.";
    let analysis = analyze(&corpus, text, None);
    let scores = tiny_model().score_text(text, Default::default()).unwrap();
    assert_eq!(scores.positions.len(), analysis.tokens.len() - 1);
    for score in &scores.positions {
        let stored = analysis.next_log_prob(score.index - 1).unwrap();
        assert!(
            (f64::from(stored) - score.logprob).abs() < 1e-4,
            "token {}: analysis {stored}, scoring {}",
            score.index,
            score.logprob
        );
    }
    assert_eq!(analysis.next_log_prob(analysis.tokens.len() - 1), None);
}

/// Where a word starts, the analysis answers p_kNN from its stored search, elsewhere by
/// searching: either way it must be what a search of that position's key gives.
#[test]
fn the_analysis_gives_the_knn_prediction_of_every_position() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let text = "Every Thursday, the zebra council approves purple raincoats.";
    let params = &corpus.params;
    for searched_k in [params.k, 64] {
        let options = AnalysisOptions {
            k: searched_k,
            ..AnalysisOptions::default()
        };
        let analysis = analyze_with(&corpus, text, None, &options);
        for position in 0..analysis.tokens.len() - 1 {
            let key = analysis.key(position).unwrap();
            let searched = knnlm::predict_knn(&[&corpus], None, params, key).unwrap();
            let given = analysis.knn_at(&[&corpus], params, position).unwrap();
            assert_eq!(
                (&given.distribution, given.lambda),
                (&searched.distribution, searched.lambda),
                "position {position}, analysis k {searched_k}"
            );
        }
    }
}

#[test]
fn completion_offers_the_corpus_word_spelled_out() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let model = tiny_model();
    let context = model.new_context();
    let tokens = model
        .tokenizer()
        .encode("Meeting minutes. The zebra council approves purple")
        .unwrap();
    // (typed prefix, expected first completion)
    let cases = [
        ("", "umbrellas"),
        ("umb", "umbrellas"),
        ("umbrel", "umbrellas"),
    ];
    for (prefix, expected) in cases {
        let query = CompletionQuery {
            tokens_before: &tokens,
            prefix,
            leading_space: true,
        };
        let completions = editing::complete(
            &context,
            &[&corpus],
            None,
            &corpus.params,
            &query,
            &CompletionOptions::default(),
        )
        .unwrap();
        let first = &completions[0];
        assert_eq!(first.text, expected, "prefix {prefix:?}");
        assert!(first.knn_probability > 0.9);
        // All 8 neighbours carry it, from one sentence the corpus writes 12 times: shown
        // once, with their weights summed.
        assert_eq!(first.support_count, 1, "{:?}", first.support);
        let evidence = &first.support[0];
        assert!(evidence.weight > 0.9, "{evidence:?}");
        assert!(evidence.path.as_deref().unwrap().ends_with("zebra.md"));
        assert_eq!(&evidence.sentence[evidence.mark.clone()], "umb");
        for completion in &completions {
            assert!(completion.text.starts_with(prefix), "{completion:?}");
        }
    }
}

#[test]
fn a_word_the_corpus_would_not_use_gets_a_hint_and_its_usage_shows_why() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_of(dir.path(), &HABIT.repeat(4).join(" "));
    // The tiny model is no judge of fluency ("coats" → "umbrellas" costs it e^100): the
    // fluency check is left out here.
    let thresholds = HintThresholds {
        max_fluency_loss: f64::INFINITY,
        max_variant_fluency_loss: f32::INFINITY,
        ..HintThresholds::default()
    };
    // The tiny model's keys hardly see past the last token: the text repeats the corpus's
    // context closely enough for its neighbours to be the corpus sentence's.
    let house_style = analyze(&corpus, &format!("Every Thursday. {DISTINCTIVE}"), None);
    let context = tiny_model().new_context();
    let hints_of = |analysis: &BlockAnalysis| {
        editing::word_choice_hints(
            &context,
            analysis,
            &[&corpus],
            &corpus.params,
            &thresholds,
            3,
        )
        .unwrap()
    };
    let hints = hints_of(&house_style);
    assert!(hints.is_empty(), "the corpus's own sentence: {hints:?}");

    // (text, written word, house word, kind, times the corpus writes each)
    let cases = [
        // A common word (one token) that the corpus never writes, where its neighbours
        // agree on another.
        (
            "Every Thursday. The zebra council approves purple coats every Thursday.",
            "coats",
            "umbrellas",
            HintKind::WordChoice,
            (0, 12),
        ),
        (
            "Every Thursday. The zebra council approves purple umbrelas every Thursday.",
            "umbrelas",
            "umbrellas",
            HintKind::Spelling,
            (0, 12),
        ),
        (
            "Every Thursday. The zebra council approves purple umbrellas every thursday.",
            "thursday",
            "Thursday",
            HintKind::Capitalisation,
            (0, 12),
        ),
    ];
    for (text, written, preferred, kind, counts) in cases {
        let analysis = analyze(&corpus, text, None);
        let hints = hints_of(&analysis);
        assert_eq!(hints.len(), 1, "{text}: {hints:?}");
        let hint = &hints[0];
        assert_eq!(
            (hint.written.as_str(), hint.preferred.as_str(), hint.kind),
            (written, preferred, kind)
        );
        assert_eq!(&text[hint.bytes.clone()], written);
        assert_eq!((hint.written_count, hint.preferred_count), counts, "{text}");
        assert_eq!(
            hint.support.len(),
            HABIT.len(),
            "{text}: each of the corpus's sentences, once"
        );
        for sentence in &hint.support {
            let marked = editing::corpus_word(&sentence.sentence, sentence.mark.clone());
            assert_eq!(marked, Some(preferred), "{sentence:?}");
        }
    }

    let text = cases[0].0;
    let analysis = analyze(&corpus, text, None);
    let word = analysis.word_at(text.find("coats").unwrap()).unwrap();
    let usage = editing::similar_usage(word, "coats", &[&corpus], &corpus.params, 3);
    assert!(usage.support.is_empty(), "no corpus sentence says coats");
    let preferred = usage.preferred.unwrap();
    assert_eq!(preferred.word, "umbrellas");
    assert!(preferred.candidate.knn_probability > 0.9);

    let good = house_style
        .word_at(house_style.text.find("umbrellas").unwrap())
        .unwrap();
    let usage = editing::similar_usage(good, "umbrellas", &[&corpus], &corpus.params, 3);
    assert_eq!(usage.support.len(), HABIT.len(), "each sentence, once");
    assert!(usage.preferred.is_none());
}

#[test]
fn a_word_choice_needs_the_house_word_in_three_corpus_sentences() {
    let thresholds = HintThresholds {
        max_fluency_loss: f64::INFINITY,
        ..HintThresholds::default()
    };
    let text = "Every Thursday. The zebra council approves purple coats every Thursday.";
    // (the corpus's sentences with "umbrellas", 12 in all; hints on "coats")
    let cases = [
        (HABIT.repeat(4), 1),
        (HABIT[..2].repeat(6), 0),
        (vec![DISTINCTIVE; 12], 0),
    ];
    for (sentences, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let corpus = corpus_of(dir.path(), &sentences.join(" "));
        let analysis = analyze(&corpus, text, None);
        let context = tiny_model().new_context();
        let hints = editing::word_choice_hints(
            &context,
            &analysis,
            &[&corpus],
            &corpus.params,
            &thresholds,
            3,
        )
        .unwrap();
        assert_eq!(hints.len(), expected, "{sentences:?}: {hints:?}");
    }
}

#[test]
fn a_rule_the_corpus_states_is_a_hint_on_the_words_it_rules_out() {
    const RULE: &str = "Write sign in, not log in.";
    const HOUSE: &str = "Sign in with your key. To sign in, open the council app.";
    const WRITES_LOG_IN: &str = "Log in at the gate. We log in every Thursday. Log in twice.";
    // (corpus paragraph, text, the hints: written → preferred)
    type Case<'a> = (String, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            format!("{RULE} {HOUSE}"),
            "If you cannot log in, ask the zebra council.",
            &[("log in", "sign in")],
        ),
        (
            format!("{RULE} {HOUSE}"),
            "Log  in every Thursday.",
            &[("Log  in", "Sign in")],
        ),
        // The rule itself, quoted in a text, is no hint.
        (
            format!("{RULE} {HOUSE}"),
            "Our guide says: Write sign in, not log in.",
            &[],
        ),
        // A corpus that writes the term elsewhere does not hold to its rule.
        (
            format!("{RULE} {HOUSE} {WRITES_LOG_IN}"),
            "If you cannot log in, ask.",
            &[],
        ),
    ];
    for (paragraph, text, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let corpus = corpus_of(dir.path(), paragraph);
        let hints = editing::stated_rule_hints(text, &[&corpus], &HintThresholds::default());
        let found: Vec<(&str, &str)> = hints
            .iter()
            .map(|h| (&text[h.bytes.clone()], h.preferred.as_str()))
            .collect();
        assert_eq!(found, *expected, "{text} after {paragraph}");
        for hint in &hints {
            assert_eq!(hint.kind, HintKind::StatedRule);
            // The rule's sentence first, the house term marked.
            let first = &hint.support[0];
            assert_eq!(first.sentence, RULE);
            assert_eq!(&first.sentence[first.mark.clone()], "sign in");
        }
    }
}

#[test]
fn a_substitution_check_reads_its_word_and_a_few_tokens_of_the_rest_of_its_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let text = "Notes follow. Our zebra council approves purple umbrellas on Monday! Then tea";
    let analysis = analyze(&corpus, text, None);
    // (word, the text of the tokens its check reads, whether it scores a paragraph break)
    let cases = [
        ("follow", " follow.", false),
        // The rest of the sentence is longer than RIGHT_CONTEXT_TOKENS tokens: cut there.
        ("council", " council approves purple umbrellas", false),
        ("Monday", " Monday!", false),
        ("tea", " tea", true),
    ];
    for (word, read, paragraph_break) in cases {
        let analysed = analysis
            .words
            .iter()
            .find(|w| &text[w.bytes.clone()] == word)
            .unwrap();
        let checked = editing::checked_tokens(&analysis, analysed);
        let tokens = &analysis.tokens[checked.tokens.clone()];
        let bytes = tokens[0].bytes.start..tokens.last().unwrap().bytes.end;
        assert_eq!(&text[bytes], read, "{word}");
        assert_eq!(checked.paragraph_break, paragraph_break, "{word}");
        assert_eq!(
            analysis.tokens[checked.word_end - 1].bytes.end,
            analysed.bytes.end,
            "{word}"
        );
        if word == "council" {
            let rest = checked.tokens.end - checked.word_end;
            assert_eq!(rest, editing::RIGHT_CONTEXT_TOKENS);
        }
    }
}

/// ln p of `tokens[from..]` under kNN-LM (or the base model alone), each given the tokens
/// before it, from one fresh run of the whole sequence: the definition the substitution
/// check must agree with.
fn scored_from_scratch(corpus: &CorpusIndex, tokens: &[u32], from: usize, knn: bool) -> f32 {
    let run = tiny_model()
        .new_context()
        .forward(tokens, tokens.len())
        .unwrap();
    (from..tokens.len())
        .map(|target| {
            let position = target - 1;
            let lm = log_softmax(run.logits_at(position).unwrap())[tokens[target] as usize];
            let key = run.key_at(position).unwrap();
            match knnlm::predict_knn(&[corpus], None, &corpus.params, key).filter(|_| knn) {
                Some(knn) => knn.interpolate(lm, tokens[target]),
                None => lm,
            }
        })
        .sum()
}

#[test]
fn a_substitution_check_equals_scoring_both_sentences_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let tokenizer = tiny_model().tokenizer();
    let context = tiny_model().new_context();
    // The second text ends with the word: the check then scores a paragraph break after it.
    // An analysis that searched with the check's k lends the check its searches at word
    // starts; one that searched with another k does not.
    let texts = [
        "Every Thursday. The zebra council approves purple raincoats every Thursday.",
        "Every Thursday. The zebra council approves purple raincoats",
    ];
    let searched_ks = [corpus.params.k, 64];
    for (text, searched_k) in texts.into_iter().flat_map(|t| searched_ks.map(|k| (t, k))) {
        let options = AnalysisOptions {
            k: searched_k,
            ..AnalysisOptions::default()
        };
        let analysis = analyze_with(&corpus, text, None, &options);
        let word = analysis.word_at(text.find("raincoats").unwrap()).unwrap();
        let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
        let read = editing::checked_tokens(&analysis, word);
        let first = word.token_index;
        let preferred = tokenizer.encode(" umbrellas").unwrap();
        let rest = if read.paragraph_break {
            tokenizer.encode("\n\n").unwrap()
        } else {
            ids[read.word_end..read.tokens.end].to_vec()
        };
        let with = |word: &[u32]| -> Vec<u32> {
            ids[..first]
                .iter()
                .chain(word)
                .chain(&rest)
                .copied()
                .collect()
        };
        let written = with(&ids[first..read.word_end]);
        let with_preferred = with(&preferred);
        let expected = scored_from_scratch(&corpus, &with_preferred, first, true)
            - scored_from_scratch(&corpus, &written, first, true);
        let expected_lm = scored_from_scratch(&corpus, &with_preferred, first, false)
            - scored_from_scratch(&corpus, &written, first, false);

        let comparison = editing::compare_words(
            &context,
            &analysis,
            &[&corpus],
            &corpus.params,
            word,
            "umbrellas",
        )
        .unwrap();
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3 * b.abs().max(1.0);
        assert!(
            close(comparison.log_ratio, expected),
            "{text:?}, analysis k {searched_k}: checked {comparison:?}, from scratch {expected}"
        );
        assert!(
            close(comparison.lm_log_ratio, expected_lm),
            "{text:?}, analysis k {searched_k}: checked {comparison:?}, base model {expected_lm}"
        );
        assert_eq!(comparison.preferred_first_token, Some(preferred[0]));
    }
}

/// An index keyed by blocks holds, for each corpus token, the key the editor computes for the
/// same token when it analyses the same paragraph: the editor's queries and the corpus keys
/// see alike contexts. Keyed by windows, the second paragraph's keys also see the first.
#[test]
fn an_index_keyed_by_blocks_has_the_keys_the_editor_computes() {
    let dir = tempfile::tempdir().unwrap();
    let first = "The committee met on Tuesday to review the draft.";
    let second = "Most members agreed that the section on regional sales needed more detail.";
    std::fs::write(
        dir.path().join("minutes.md"),
        format!("{first}\n\n{second}\n"),
    )
    .unwrap();
    // (key context, whether the second paragraph's keys are the editor's)
    for (keys, aligned) in [(KeyContext::Blocks, true), (KeyContext::Windows, false)] {
        let out = dir.path().join(format!("{}.index", keys.name()));
        let options = IndexOptions {
            keys,
            ..IndexOptions::default()
        };
        indexer::build_index(
            tiny_model(),
            &[dir.path().join("minutes.md")],
            &out,
            &options,
            &mut |_| {},
        )
        .unwrap();
        let store = Datastore::open(&out, Some(&tiny_model().manifest().fingerprint)).unwrap();
        let corpus = CorpusIndex::new(
            NeighbourIndex::new(Arc::new(store), SearchOptions::default()).unwrap(),
            KnnParams::default(),
        );
        let analysis = analyze(&corpus, second, None);
        let store = corpus.file().unwrap();
        // The entries of the second paragraph's tokens after its first, in order.
        let second_line: Vec<usize> = (0..store.len())
            .filter(|&e| store.provenance()[e].line == 3)
            .collect();
        let targets = analysis.tokens.len() - 1 - usize::from(keys == KeyContext::Windows);
        assert!(
            second_line.len() >= targets,
            "{keys:?}: {}",
            second_line.len()
        );
        let entries = &second_line[second_line.len() - targets..];
        let largest_difference = entries
            .iter()
            .enumerate()
            .map(|(i, &entry)| {
                let position = analysis.tokens.len() - 1 - targets + i;
                let editor = analysis.key(position).unwrap();
                let indexed = store.keys().row(entry);
                editor
                    .iter()
                    .zip(indexed)
                    .map(|(a, b)| (a - b.to_f32()).abs())
                    .fold(0.0f32, f32::max)
            })
            .fold(0.0f32, f32::max);
        // f16 storage rounds to about 1e-3 of the value.
        assert_eq!(
            largest_difference < 0.05,
            aligned,
            "{keys:?}: {largest_difference}"
        );
    }
}

#[test]
fn the_word_before_a_neighbours_token_is_what_the_corpus_writes_where_that_context_ends() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let tokenizer = tiny_model().tokenizer();
    let store = corpus.file().unwrap();
    let found: Vec<(String, String, String)> = store
        .values()
        .iter()
        .enumerate()
        .flat_map(|(entry, &token)| {
            let neighbour = knnlm::WeightedNeighbour {
                source: knnlm::NeighbourSource::Corpus {
                    corpus: 0,
                    entry: entry as u64,
                },
                token,
                distance: 0.0,
                weight: 1.0,
            };
            evidence::words_before(&[&corpus], &[neighbour])
                .into_iter()
                .map(move |before| (before, token))
        })
        .filter(|(before, _)| before.sentence.sentence == DISTINCTIVE)
        .map(|(before, token)| {
            let marked = &before.sentence.sentence[before.sentence.mark.clone()];
            assert_eq!(marked, before.word, "{before:?}");
            (
                before.word,
                before.gap,
                tokenizer.token_text(token).trim().to_string(),
            )
        })
        .collect();
    // (word before, what separates them, the neighbour's token)
    let expected = [
        ("umbrellas", " ", "every"),
        ("every", " ", "Thursday"),
        ("Thursday", "", "."),
    ];
    for (word, gap, token) in expected {
        assert!(
            found
                .iter()
                .any(|f| (f.0.as_str(), f.1.as_str(), f.2.as_str()) == (word, gap, token)),
            "{word:?} {gap:?} {token:?} in {found:?}"
        );
    }
    // Each is the sentence's own text, and a token that continues a word ("umbre|llas") has
    // no word before it.
    for (word, gap, token) in &found {
        assert!(
            DISTINCTIVE.contains(&format!("{word}{gap}{token}")),
            "{word:?} {token:?}"
        );
        let continues_word = gap.is_empty() && token.starts_with(char::is_alphanumeric);
        assert!(!continues_word, "{word:?} glued to {token:?}");
    }
}
