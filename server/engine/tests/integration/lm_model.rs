//! The language model on the tiny test model: KV-cache reuse, scoring, windows, errors.

use precedent_engine::lm::{
    plan_windows, Forward, LanguageModel, LmError, ScoreOptions, SessionOptions,
};
use precedent_testing::{max_abs_diff, test_model_dir, test_runtime, tiny_model, PROSE};

const TOLERANCE: f32 = 1e-4;

fn prose_tokens() -> Vec<u32> {
    tiny_model().tokenizer().encode(PROSE).unwrap()
}

/// Runs `first` then `second` in one context and compares the second run with a fresh
/// context that computes `second` from scratch: same logits and keys on the new positions.
fn check_cache_reuse(first: &[u32], second: &[u32], expected_reused: usize) {
    let model = tiny_model();
    let context = model.new_context();
    context.forward(first, 1).unwrap();
    let reused = context.forward(second, second.len()).unwrap();
    assert_eq!(
        reused.new_positions,
        expected_reused..second.len(),
        "first {first:?}"
    );

    assert_same_as_fresh_run(&reused, second);
}

/// `run` (of `tokens`, in some context) has the logits and keys of a fresh context's run
/// of `tokens` on every position it ran.
fn assert_same_as_fresh_run(run: &Forward, tokens: &[u32]) {
    let fresh = tiny_model()
        .new_context()
        .forward(tokens, tokens.len())
        .unwrap();
    assert_eq!(fresh.new_positions, 0..tokens.len());
    for position in run.new_positions.clone() {
        let logits_diff = max_abs_diff(
            run.logits_at(position).unwrap(),
            fresh.logits_at(position).unwrap(),
        );
        let keys_diff = max_abs_diff(
            run.key_at(position).unwrap(),
            fresh.key_at(position).unwrap(),
        );
        assert!(
            logits_diff < TOLERANCE,
            "logits at {position} differ by {logits_diff}"
        );
        assert!(
            keys_diff < TOLERANCE,
            "keys at {position} differ by {keys_diff}"
        );
    }
}

#[test]
fn kv_cache_reuse_matches_a_full_recompute() {
    let tokens = prose_tokens();
    let edited: Vec<u32> = tokens[..20]
        .iter()
        .copied()
        .chain(tokens[40..50].iter().copied())
        .collect();
    // (first run, second run, positions the second run takes from the cache)
    let cases: [(&[u32], &[u32], usize); 6] = [
        (&tokens[..30], &tokens[..31], 30), // typing: one more token
        (&tokens[..10], &tokens[..45], 10), // a pasted phrase
        (&tokens[..45], &edited, 20),       // an edit: cache truncated to the shared prefix
        (&tokens[..25], &tokens[..25], 24), // the same context: the last token is rerun
        (&tokens[..25], &tokens[..12], 11), // a shorter context (backspace)
        (&tokens[5..20], &tokens[..20], 0), // nothing shared
    ];
    for (first, second, expected_reused) in cases {
        check_cache_reuse(first, second, expected_reused);
    }
}

#[test]
fn a_branch_equals_a_fresh_run_and_leaves_the_cache_as_it_was() {
    let model = tiny_model();
    let tokens = prose_tokens();
    let other: Vec<u32> = tokens[..20]
        .iter()
        .chain(&tokens[50..56])
        .copied()
        .collect();
    // (what the cache holds, the branch's tokens, where it branches)
    let cases: [(&[u32], &[u32], usize); 3] = [
        (&tokens[..40], &other, 19), // another continuation inside the cached text
        (&tokens[..20], &other, 20), // a continuation right at the cache's end
        (&tokens[5..30], &tokens[..25], 9), // the cache shares nothing: moved first
    ];
    for (cached, branched, branch_from) in cases {
        let context = model.new_context();
        context.forward(cached, 1).unwrap();
        let branch = context
            .branch(branched, branch_from, branched.len())
            .unwrap();
        assert_eq!(branch.new_positions, branch_from..branched.len());
        assert_same_as_fresh_run(&branch, branched);
        // The cache still holds what it held: running it again reruns only the last token
        // (or, for the moved cache, everything after the branch point).
        let again = context.forward(cached, 1).unwrap();
        let shared = cached
            .iter()
            .zip(branched)
            .take_while(|(a, b)| a == b)
            .count();
        let expected = if shared >= branch_from {
            cached.len() - 1
        } else {
            0
        };
        assert_eq!(again.new_positions.start, expected, "cached {cached:?}");
        // ...and its keys and values are intact: text added after it runs as from scratch.
        let longer = &tokens[..cached.len() + 5];
        if longer.starts_with(cached) {
            let extended = context.forward(longer, 5).unwrap();
            assert_eq!(extended.new_positions, cached.len()..longer.len());
            assert_same_as_fresh_run(&extended, longer);
        }
    }
}

#[test]
fn writing_the_cache_in_place_changes_no_result() {
    let copying = LanguageModel::load(
        &test_runtime(),
        &test_model_dir(),
        SessionOptions {
            kv_in_place: false,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    let in_place = tiny_model();
    let tokens = prose_tokens().repeat(3);
    let edited: Vec<u32> = tokens[..30]
        .iter()
        .chain(&tokens[60..70])
        .copied()
        .collect();
    let (a, b) = (copying.new_context(), in_place.new_context());
    let mut runs = Vec::new();
    // Typing token by token past the first buffer's room, a pasted phrase, an edit that
    // truncates the cache, a branch inside the cache and one at its end.
    for end in 1..80 {
        runs.push((a.forward(&tokens[..end], 1), b.forward(&tokens[..end], 1)));
    }
    runs.push((a.forward(&tokens[..120], 40), b.forward(&tokens[..120], 40)));
    runs.push((a.forward(&edited, 10), b.forward(&edited, 10)));
    runs.push((
        a.branch(&tokens[..36], 25, 11),
        b.branch(&tokens[..36], 25, 11),
    ));
    runs.push((
        a.branch(&tokens[..45], 40, 5),
        b.branch(&tokens[..45], 40, 5),
    ));
    runs.push((a.forward(&edited, 1), b.forward(&edited, 1)));
    for (step, (expected, actual)) in runs.into_iter().enumerate() {
        let (expected, actual) = (expected.unwrap(), actual.unwrap());
        assert_eq!(expected.new_positions, actual.new_positions, "step {step}");
        for position in expected.new_positions.clone() {
            let logits = expected.logits_at(position);
            assert_eq!(
                logits,
                actual.logits_at(position),
                "step {step} at {position}"
            );
            let keys = expected.key_at(position);
            assert_eq!(keys, actual.key_at(position), "step {step} at {position}");
        }
    }
}

#[test]
fn keystrokes_interrupting_background_runs_change_no_result() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let model = tiny_model();
    let tokens = prose_tokens();
    let reference = model.new_context().forward(&tokens, tokens.len()).unwrap();
    let interrupted_before = model.interrupted_runs();
    let typing_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let background = scope.spawn(|| {
            let context = model.new_context();
            let mut runs = Vec::new();
            // Alternate between two texts so every call runs many positions.
            for round in 0.. {
                if typing_done.load(Ordering::Relaxed) && round >= 40 {
                    break;
                }
                let end = if round % 2 == 0 { tokens.len() } else { 8 };
                runs.push(context.forward(&tokens[..end], end).unwrap());
            }
            runs
        });
        // Stops the background thread even if an assertion below fails.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let stop_background = StopOnDrop(&typing_done);
        // Keystrokes until some background run was interrupted (the tiny model's runs are
        // short, so it may take a while on a busy machine), at least 200.
        let typing = model.new_interactive_context();
        let started = Instant::now();
        for (count, end) in (2..tokens.len()).cycle().enumerate() {
            let interrupted = model.interrupted_runs() > interrupted_before;
            if count >= 200 && (interrupted || started.elapsed() > Duration::from_secs(20)) {
                break;
            }
            let next = typing.next_token(&tokens[..end]).unwrap();
            let expected = reference.logits_at(end - 1).unwrap();
            let normaliser = precedent_engine::lm::log_sum_exp(expected) as f32;
            let token = tokens[end] as usize;
            assert!((next.log_probs[token] - (expected[token] - normaliser)).abs() < TOLERANCE);
        }
        drop(stop_background);
        assert!(
            model.interrupted_runs() > interrupted_before,
            "no background run was interrupted"
        );
        for forward in background.join().unwrap() {
            for position in forward.new_positions.clone() {
                let diff = max_abs_diff(
                    forward.logits_at(position).unwrap(),
                    reference.logits_at(position).unwrap(),
                );
                assert!(diff < TOLERANCE, "position {position} differs by {diff}");
            }
        }
    });
}

#[test]
fn scoring_equals_step_by_step_decoding() {
    let model = tiny_model();
    let tokens = prose_tokens();
    let scores = model.score_text(PROSE, ScoreOptions::default()).unwrap();
    assert_eq!(scores.tokens, tokens);
    let indices: Vec<usize> = scores.positions.iter().map(|p| p.index).collect();
    assert_eq!(indices, (1..tokens.len()).collect::<Vec<_>>());

    let context = model.new_context();
    for score in &scores.positions {
        let next = context.next_token(&tokens[..score.index]).unwrap();
        assert_eq!(score.token_id, tokens[score.index]);
        let step_logprob = next.log_probs[score.token_id as usize];
        assert!(
            (score.logprob - f64::from(step_logprob)).abs() < 1e-4,
            "position {}: scored {} vs decoded {step_logprob}",
            score.index,
            score.logprob
        );
        // top1 is the decoder's best token (up to float ties).
        let best = next
            .log_probs
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(
            best - next.log_probs[score.top1 as usize] < TOLERANCE,
            "position {}",
            score.index
        );
    }
}

#[test]
fn next_token_is_a_distribution_ranked_by_top() {
    let model = tiny_model();
    let next = model
        .new_context()
        .next_token(&prose_tokens()[..12])
        .unwrap();
    assert_eq!(next.log_probs.len(), model.manifest().vocab_size);
    assert_eq!(next.knn_key.len(), model.manifest().key_dim);
    let total: f64 = next.log_probs.iter().map(|&lp| f64::from(lp).exp()).sum();
    assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
    let top = next.top(5);
    assert_eq!(top.len(), 5);
    assert!(top.windows(2).all(|pair| pair[0].1 >= pair[1].1), "{top:?}");
    let best = next
        .log_probs
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    assert_eq!(top[0].1, best);
}

/// Scoring with `options` must give, for every target, the score that a single window
/// starting where the plan says gives it.
fn check_windows(window: usize, stride: usize, chunk: usize) {
    let model = tiny_model();
    let tokens = prose_tokens();
    let options = ScoreOptions {
        window: Some(window),
        stride: Some(stride),
        chunk,
        keys: true,
        ..ScoreOptions::default()
    };
    let scores = model.score_tokens(tokens.clone(), options).unwrap();
    assert_eq!(scores.positions.len(), tokens.len() - 1);

    let mut row = 0;
    for plan in plan_windows(tokens.len(), window, stride) {
        let alone = model
            .score_tokens(
                tokens[plan.start..plan.end].to_vec(),
                ScoreOptions {
                    keys: true,
                    ..ScoreOptions::default()
                },
            )
            .unwrap();
        let targets = tokens
            .iter()
            .enumerate()
            .take(plan.end)
            .skip(plan.first_target);
        for (target, &token) in targets {
            let expected = &alone.positions[target - plan.start - 1];
            let actual = &scores.positions[row];
            assert_eq!((actual.index, actual.token_id), (target, token));
            assert!(
                (actual.logprob - expected.logprob).abs() < 1e-4,
                "target {target}: {actual:?} vs {expected:?}"
            );
            let key_diff = max_abs_diff(
                scores.key(row).unwrap(),
                alone.key(target - plan.start - 1).unwrap(),
            );
            assert!(
                key_diff < TOLERANCE,
                "key of target {target} differs by {key_diff}"
            );
            row += 1;
        }
    }
}

#[test]
fn sliding_windows_score_each_target_with_its_window_context() {
    // (window, stride, chunk)
    let cases = [(16, 8, 256), (16, 15, 256), (24, 5, 7), (2, 1, 1)];
    for (window, stride, chunk) in cases {
        check_windows(window, stride, chunk);
    }
}

#[test]
fn chunking_a_window_does_not_change_the_scores() {
    let model = tiny_model();
    let tokens = prose_tokens();
    let score = |chunk| {
        model
            .score_tokens(
                tokens.clone(),
                ScoreOptions {
                    chunk,
                    keys: true,
                    ..ScoreOptions::default()
                },
            )
            .unwrap()
    };
    let whole = score(4096);
    for chunk in [1, 7, 64] {
        let chunked = score(chunk);
        for (a, b) in whole.positions.iter().zip(&chunked.positions) {
            assert!(
                (a.logprob - b.logprob).abs() < 1e-4,
                "chunk {chunk}: {a:?} vs {b:?}"
            );
        }
        let key_diff = max_abs_diff(whole.keys.as_ref().unwrap(), chunked.keys.as_ref().unwrap());
        assert!(
            key_diff < TOLERANCE,
            "chunk {chunk}: keys differ by {key_diff}"
        );
    }
}

#[test]
fn keys_of_scores_are_the_keys_of_the_preceding_position() {
    let model = tiny_model();
    let tokens = prose_tokens();
    let scores = model
        .score_tokens(
            tokens.clone(),
            ScoreOptions {
                keys: true,
                ..ScoreOptions::default()
            },
        )
        .unwrap();
    let forward = model.new_context().forward(&tokens, 1).unwrap();
    for (row, score) in scores.positions.iter().enumerate() {
        let diff = max_abs_diff(
            scores.key(row).unwrap(),
            forward.key_at(score.index - 1).unwrap(),
        );
        assert!(
            diff < TOLERANCE,
            "target {}: key differs by {diff}",
            score.index
        );
    }
}

#[test]
fn short_texts_have_nothing_or_one_position_to_score() {
    let model = tiny_model();
    for (text, expected_positions) in [("", 0), ("Hello", 0), ("Hello world", 1)] {
        let scores = model.score_text(text, ScoreOptions::default()).unwrap();
        assert_eq!(scores.positions.len(), expected_positions, "{text:?}");
        assert_eq!(scores.perplexity().is_some(), expected_positions > 0);
    }
}

#[test]
fn bad_requests_are_errors_that_say_why() {
    let model = tiny_model();
    let manifest = model.manifest();
    let too_long = vec![100u32; manifest.max_positions + 1];
    let out_of_range = vec![1, manifest.vocab_size as u32];
    let context = model.new_context();
    let check = |result: Result<(), LmError>, expected: &str| {
        let message = result.expect_err(expected).to_string();
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
    };
    check(context.forward(&[], 1).map(drop), "empty");
    check(context.forward(&too_long, 1).map(drop), "at most");
    check(
        context.forward(&out_of_range, 1).map(drop),
        "outside the model's vocabulary",
    );
    let score = |window, stride| {
        model
            .score_tokens(
                vec![1, 2, 3],
                ScoreOptions {
                    window,
                    stride,
                    ..ScoreOptions::default()
                },
            )
            .map(drop)
    };
    check(score(Some(1), None), "window must hold");
    check(
        score(Some(manifest.max_positions + 1), None),
        "window must hold",
    );
    check(score(Some(8), Some(8)), "stride");
    check(score(Some(8), Some(0)), "stride");
    // After the errors the context still works.
    assert!(context.forward(&[1, 2, 3], 1).is_ok());
}

#[test]
fn keys_only_scoring_gives_the_same_keys_and_top_lists_agree_with_top1() {
    let model = tiny_model();
    let tokens = prose_tokens();
    let options = |logits: bool| ScoreOptions {
        window: Some(32),
        stride: Some(16),
        keys: true,
        logits,
        top_n: if logits { 5 } else { 0 },
        ..ScoreOptions::default()
    };
    let full = model.score_tokens(tokens.clone(), options(true)).unwrap();
    let keys_only = model.score_tokens(tokens.clone(), options(false)).unwrap();
    assert_eq!(full.positions.len(), keys_only.positions.len());
    assert!(
        max_abs_diff(
            full.keys.as_ref().unwrap(),
            keys_only.keys.as_ref().unwrap()
        ) < 1e-4
    );
    assert!(keys_only.positions.iter().all(|p| p.logprob.is_nan()));
    for (row, position) in full.positions.iter().enumerate() {
        let top = full.top_at(row);
        assert_eq!(top.len(), 5);
        assert_eq!(top[0].0, position.top1);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        // The target's log-probability is at most the best one.
        assert!(position.logprob <= f64::from(top[0].1) + 1e-4);
    }
}
