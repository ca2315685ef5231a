//! The real `precedent` binary on the tiny test model: output formats, exit codes, messages.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use precedent_engine::lm::{LanguageModel, ScoreOptions, SessionOptions};

/// `PRECEDENT_TEST_MODEL`, else `<workspace>/target/models/tiny`; missing fails the test.
fn test_model_dir() -> PathBuf {
    let dir = match std::env::var_os("PRECEDENT_TEST_MODEL").filter(|value| !value.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/models/tiny"),
    };
    assert!(
        dir.join("manifest.json").is_file(),
        "the tiny test model is missing at {}: build it with `bash tests/run.sh` or \
         `PYTHONPATH=models python3 -m precedent_models.setup --tiny-out target/models/tiny`",
        dir.display()
    );
    dir
}

fn precedent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precedent"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).unwrap()
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).unwrap()
}

const TEXT: &str = "Résumé:\tthe committee met on Tuesday.\r\nIt agreed on a plan 👍 for 2025.";

#[test]
fn lm_score_prints_one_json_object_per_position() {
    let model_dir = test_model_dir();
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("text.txt");
    std::fs::write(&file, TEXT).unwrap();

    let output = precedent(&[
        "lm-score",
        file.to_str().unwrap(),
        "--model",
        model_dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("perplexity"),
        "{}",
        stderr(&output)
    );

    let runtime = precedent_engine::runtime::init().unwrap();
    let model = LanguageModel::load(&runtime, &model_dir, SessionOptions::default()).unwrap();
    let expected = model.score_text(TEXT, ScoreOptions::default()).unwrap();
    let lines: Vec<&str> = stdout(&output).lines().collect();
    assert_eq!(lines.len(), expected.positions.len());
    for (line, position) in lines.iter().zip(&expected.positions) {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["index", "logprob", "token_id", "top1"],
            "exactly these keys: {line}"
        );
        let key_offsets: Vec<usize> = ["\"index\"", "\"token_id\"", "\"logprob\"", "\"top1\""]
            .iter()
            .map(|key| line.find(key).unwrap())
            .collect();
        assert!(
            key_offsets.is_sorted(),
            "keys in the documented order: {line}"
        );
        assert_eq!(object["index"], position.index);
        assert_eq!(object["token_id"], position.token_id);
        assert_eq!(object["top1"], position.top1);
        assert!(
            (object["logprob"].as_f64().unwrap() - position.logprob).abs() < 1e-9,
            "{line}"
        );
    }
}

#[test]
fn failures_go_to_stderr_with_the_fix_and_a_failing_status() {
    let model_dir = test_model_dir();
    let model = model_dir.to_str().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let missing_file = scratch.path().join("nope.txt");
    let not_utf8 = scratch.path().join("latin1.txt");
    std::fs::write(&not_utf8, b"caf\xe9").unwrap();
    let missing_model = scratch.path().join("no-model");

    // (arguments, fragments stderr must contain)
    let cases: [(Vec<&str>, &[&str]); 4] = [
        (
            vec!["lm-score", missing_file.to_str().unwrap(), "--model", model],
            &["nope.txt"],
        ),
        (
            vec!["lm-score", not_utf8.to_str().unwrap(), "--model", model],
            &["not UTF-8", "offset 3"],
        ),
        (
            vec![
                "predict",
                "Hello",
                "--model",
                missing_model.to_str().unwrap(),
            ],
            &["manifest.json", "precedent setup"],
        ),
        (
            vec!["predict", "", "--model", model],
            &["the text is empty"],
        ),
    ];
    for (args, fragments) in cases {
        let output = precedent(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_eq!(stdout(&output), "", "{args:?}");
        for fragment in fragments {
            assert!(
                stderr(&output).contains(fragment),
                "{args:?}: {} should contain {fragment:?}",
                stderr(&output)
            );
        }
    }
}

#[test]
fn the_log_level_comes_from_precedent_log_else_rust_log_else_verbose() {
    let model_dir = test_model_dir();
    let loaded = "loaded language model"; // logged at info level
                                          // (PRECEDENT_LOG, RUST_LOG, -v, is the info line logged?)
    let cases: &[(Option<&str>, Option<&str>, bool, bool)] = &[
        (None, None, false, false),
        (None, None, true, true),
        (None, Some("info"), false, true),
        (Some("info"), None, false, true),
        (Some("warn"), Some("info"), false, false),
        (Some("warn"), None, true, false),
    ];
    for &(precedent_log, rust_log, verbose, logged) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_precedent"));
        command.env_remove("PRECEDENT_LOG").env_remove("RUST_LOG");
        for (name, value) in [("PRECEDENT_LOG", precedent_log), ("RUST_LOG", rust_log)] {
            if let Some(value) = value {
                command.env(name, value);
            }
        }
        if verbose {
            command.arg("-v");
        }
        let output = command
            .args(["predict", "Hello", "--model", model_dir.to_str().unwrap()])
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            stderr(&output).contains(loaded),
            logged,
            "PRECEDENT_LOG={precedent_log:?} RUST_LOG={rust_log:?} -v={verbose}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn predict_lists_the_requested_number_of_candidates() {
    let model_dir = test_model_dir();
    let output = precedent(&[
        "predict",
        "The committee met on",
        "--top",
        "3",
        "--model",
        model_dir.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<&str> = stdout(&output).lines().collect();
    assert_eq!(lines[0], "The committee met on");
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (rank, line) in lines[1..].iter().enumerate() {
        assert!(
            line.trim_start().starts_with(&format!("{}.", rank + 1)),
            "{line}"
        );
        assert!(line.contains('%') && line.contains("(token "), "{line}");
    }
}

#[test]
fn doctor_reports_each_check() {
    let model_dir = test_model_dir();
    let scratch = tempfile::tempdir().unwrap();
    let good = precedent(&["doctor", "--model", model_dir.to_str().unwrap()]);
    assert!(good.status.success(), "{}{}", stdout(&good), stderr(&good));
    for label in [
        "data directory",
        "runtime",
        "loads",
        "manifest",
        "files",
        "tokenizer",
        "session",
        "sample",
    ] {
        let line = stdout(&good)
            .lines()
            .find(|line| line.trim_start().starts_with(label));
        assert!(
            line.is_some_and(|line| line.contains("ok: ")),
            "{label}: {}",
            stdout(&good)
        );
    }
    assert!(stdout(&good).contains("All checks passed."));

    let bad = precedent(&[
        "doctor",
        "--model",
        scratch.path().join("missing").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(
        stdout(&bad).contains("FAILED: cannot read the model manifest"),
        "{}",
        stdout(&bad)
    );
    assert!(stdout(&bad).contains("precedent setup"));
}

#[test]
fn bench_lm_reports_load_prefill_and_decode() {
    let model_dir = test_model_dir();
    let args = [
        "bench",
        "lm",
        "--runs",
        "1",
        "--past",
        "16",
        "--prefill",
        "16",
        "--model",
        model_dir.to_str().unwrap(),
    ];
    let output = precedent(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    for expected in [
        "load     median",
        "prefill  16 tokens",
        "tokens/s",
        "decode   1 token after 16 cached",
    ] {
        assert!(
            report.contains(expected),
            "{report} should contain {expected:?}"
        );
    }
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["lm-score", "--help"],
        &["predict", "--help"],
        &["doctor", "--help"],
        &["bench", "lm", "--help"],
    ] {
        let output = precedent(args);
        assert!(output.status.success(), "{args:?}");
        assert!(
            stdout(&output).contains("Usage: precedent"),
            "{args:?}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn suggest_offers_the_corpus_continuation_with_its_evidence_as_json() {
    let model_dir = test_model_dir();
    let model = model_dir.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    let sentence = "The zebra council approves purple umbrellas every Thursday.";
    std::fs::write(corpus.join("zebra.md"), [sentence; 12].join(" ")).unwrap();
    let index = dir.path().join("corpus.index");
    let index = index.to_str().unwrap();
    let output = precedent(&[
        "index",
        corpus.to_str().unwrap(),
        "--out",
        index,
        "--window",
        "64",
        "--stride",
        "32",
        "--model",
        model,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let text = "Minutes. The zebra council approves purple";
    let output = precedent(&[
        "suggest", text, "--index", index, "--lambda", "0.9", "--json", "--model", model,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(stdout(&output)).unwrap();
    assert_eq!(json["text"], text);
    let top = &json["suggestions"][0];
    assert_eq!(top["text"], "umbrellas", "{json:#}");
    assert_eq!(top["phrase"], false);
    assert!(top["p_knn"].as_f64().unwrap() > 0.9, "{top:#}");
    // One sentence, written 12 times: one example, shown once.
    assert_eq!(top["examples"], 1, "{top:#}");
    let support = &top["support"][0];
    assert!(support["path"].as_str().unwrap().ends_with("zebra.md"));
    assert_eq!(support["sentence"], sentence);
    let mark = (support["mark"][0].as_u64().unwrap() as usize)
        ..(support["mark"][1].as_u64().unwrap() as usize);
    assert!("umbrellas".starts_with(&sentence[mark]), "{support:#}");
}

#[test]
fn index_out_never_replaces_a_file_that_is_not_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    std::fs::write(
        corpus.join("a.md"),
        "The zebra council approves purple umbrellas.\n",
    )
    .unwrap();
    let model = test_model_dir();
    let index = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "--model",
            model.to_str().unwrap(),
            "index",
            corpus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        precedent(&args)
    };
    let notes = dir.path().join("notes.md");
    std::fs::write(&notes, "my notes\n").unwrap();
    // (output, extra arguments, succeeds, what stderr says)
    let cases: [(&Path, &[&str], bool, &str); 4] = [
        (&notes, &[], false, "is another file, not a precedent index"),
        (dir.path(), &["--force"], false, "is a folder"),
        (
            Path::new("/dev/null"),
            &["--force"],
            false,
            "is a device, FIFO or socket",
        ),
        (&dir.path().join("team.index"), &[], true, ""),
    ];
    for (out, extra, succeeds, says) in cases {
        let output = index(out, extra);
        assert_eq!(
            output.status.success(),
            succeeds,
            "{out:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{out:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // An index is replaced by a new index; another file only with --force.
    assert!(index(&dir.path().join("team.index"), &[]).status.success());
    assert!(index(&notes, &["--force"]).status.success());
    assert!(std::fs::read(&notes).unwrap().starts_with(b"PRCDNTIX"));
}

/// Indexes a one-document corpus with the tiny model into `dir/corpus.index`.
fn small_index(dir: &Path, model: &str) -> PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let sentence = "The zebra council approves purple umbrellas every Thursday.";
    std::fs::write(corpus.join("zebra.md"), [sentence; 4].join(" ")).unwrap();
    let index = dir.join("corpus.index");
    let output = precedent(&[
        "index",
        corpus.to_str().unwrap(),
        "--out",
        index.to_str().unwrap(),
        "--model",
        model,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    index
}

#[test]
fn doctor_verifies_an_index_and_names_a_damaged_section() {
    let dir = tempfile::tempdir().unwrap();
    let model = test_model_dir();
    let model = model.to_str().unwrap();
    let index = small_index(dir.path(), model);
    let output = precedent(&[
        "doctor",
        "--index",
        index.to_str().unwrap(),
        "--model",
        model,
    ]);
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("every key is finite"),
        "{}",
        stdout(&output)
    );

    // A NaN written over the first key (the keys follow the 4,096-byte header).
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[4096..4098].copy_from_slice(&[0x00, 0x7E]);
    std::fs::write(&index, bytes).unwrap();
    let output = precedent(&[
        "doctor",
        "--index",
        index.to_str().unwrap(),
        "--model",
        model,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("the keys section fails its checksum; rebuild it"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_folder_or_a_fifo_given_as_an_index_is_named_and_never_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let model = test_model_dir();
    let fifo = dir.path().join("pipe.index");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // (index path, what the message says it is)
    let cases = [
        (dir.path().to_path_buf(), "is a folder"),
        (fifo, "not a regular file"),
    ];
    for (path, what) in cases {
        for command in [&["suggest", "Some text"][..], &["eval", "held-out.md"][..]] {
            let mut args = command.to_vec();
            args.extend([
                "--index",
                path.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
            ]);
            // A FIFO that were opened would block here for ever.
            let output = precedent(&args);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{args:?}: {}",
                stderr(&output)
            );
            assert!(
                stderr(&output).contains(what),
                "{args:?}: {}",
                stderr(&output)
            );
        }
    }
}

/// A corpus big enough that indexing it with the tiny model takes a few seconds.
fn slow_corpus(dir: &Path) -> PathBuf {
    let corpus = dir.join("big");
    std::fs::create_dir_all(&corpus).unwrap();
    let paragraph = "The committee met on Tuesday to review the draft of the annual report, \
                     and most members agreed that the section on regional sales needed detail.";
    for file in 0..300 {
        let text = (0..40)
            .map(|n| format!("{paragraph} Note {file}.{n}.\n\n"))
            .collect::<String>();
        std::fs::write(corpus.join(format!("doc{file:03}.md")), text).unwrap();
    }
    corpus
}

/// Starts `precedent index corpus --out out` and returns once its `.partial` file exists.
fn start_indexing(corpus: &Path, out: &Path, model: &str) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_precedent"))
        .args([
            "index",
            corpus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--model",
            model,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = out.parent().unwrap();
    let started = std::time::Instant::now();
    while !stray_files(dir).iter().any(|f| f.ends_with(".partial")) {
        assert!(
            started.elapsed().as_secs() < 60,
            "no .partial file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child
}

/// Hidden files next to an index: partial builds and locks.
fn stray_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect()
}

#[test]
fn an_interrupted_build_leaves_the_previous_index_and_no_stray_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = test_model_dir();
    let model = model.to_str().unwrap();
    let index = small_index(dir.path(), model);
    let before = std::fs::read(&index).unwrap();
    let corpus = slow_corpus(dir.path());
    // (signal, exit code a shell reports for it)
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let child = start_indexing(&corpus, &index, model);
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("interrupted"),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            stray_files(dir.path()),
            Vec::<String>::new(),
            "signal {signal}"
        );
        assert_eq!(
            std::fs::read(&index).unwrap(),
            before,
            "the previous index is untouched"
        );
    }
}

#[test]
fn a_second_build_of_the_same_index_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = test_model_dir();
    let model = model.to_str().unwrap();
    let corpus = slow_corpus(dir.path());
    let index = dir.path().join("team.index");
    let first = start_indexing(&corpus, &index, model);
    let second = precedent(&[
        "index",
        corpus.to_str().unwrap(),
        "--out",
        index.to_str().unwrap(),
        "--model",
        model,
    ]);
    assert_eq!(second.status.code(), Some(1));
    let message = stderr(&second);
    assert!(
        message.contains(&format!(
            "another `precedent index` (process {}) is writing",
            first.id()
        )),
        "{message}"
    );
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(first.id() as i32, libc::SIGINT) }, 0);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(130), "{}", stderr(&first));
    assert_eq!(
        stray_files(dir.path()),
        Vec::<String>::new(),
        "the lock is gone too"
    );
}

#[test]
fn an_os_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.index");
    let missing = missing.to_str().unwrap();
    let model = test_model_dir();
    let model = model.to_str().unwrap();
    let empty = dir.path().to_str().unwrap();
    let cases: [&[&str]; 3] = [
        &["eval", "--index", missing, "--model", model, empty],
        &["suggest", "text", "--index", missing, "--model", model],
        &["suggest", "text", "--index", missing, "--model", empty],
    ];
    for args in cases {
        let output = precedent(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let message = stderr(&output);
        assert_eq!(
            message.matches("os error 2").count(),
            1,
            "{args:?}: {message}"
        );
    }
}
