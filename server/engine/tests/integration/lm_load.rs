//! Loading a model directory: each way it can be broken gives an error naming the fix.

use std::path::Path;

use precedent_engine::lm::{LanguageModel, SessionOptions};
use precedent_testing::{test_model_dir, test_runtime};

/// A copy of the test model in a temporary directory, with `edit` applied to its manifest
/// and the files in `remove` deleted.
fn broken_model(edit: impl FnOnce(&mut serde_json::Value), remove: &[&str]) -> tempfile::TempDir {
    let source = test_model_dir();
    let dir = tempfile::tempdir().unwrap();
    for file in ["manifest.json", "model.onnx", "tokenizer.json"] {
        std::fs::copy(source.join(file), dir.path().join(file)).unwrap();
    }
    let manifest_path = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    for file in remove {
        std::fs::remove_file(dir.path().join(file)).unwrap();
    }
    dir
}

fn check(dir: &Path, expected_fragments: &[&str]) {
    let error = match LanguageModel::load(&test_runtime(), dir, SessionOptions::default()) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(error) => error.to_string(),
    };
    for fragment in expected_fragments {
        assert!(
            error.contains(fragment),
            "{error:?} should contain {fragment:?}"
        );
    }
}

#[test]
fn the_test_model_loads() {
    let model = LanguageModel::load(
        &test_runtime(),
        &test_model_dir(),
        SessionOptions {
            intra_threads: 1,
            ..SessionOptions::default()
        },
    )
    .unwrap();
    assert!(model.manifest().num_layers > 0);
}

#[test]
fn broken_model_directories_name_the_problem_and_the_fix() {
    use serde_json::json;
    check(
        Path::new("/nonexistent/precedent-model"),
        &["manifest.json", "precedent setup", "--model"],
    );
    let cases: Vec<(tempfile::TempDir, &[&str])> = vec![
        (
            broken_model(|_| {}, &["model.onnx"]),
            &["model.onnx", "precedent setup"],
        ),
        (
            broken_model(|_| {}, &["tokenizer.json"]),
            &["tokenizer.json", "does not exist"],
        ),
        (
            broken_model(|m| m["format"] = json!("precedent-model/9"), &[]),
            &["precedent-model/9"],
        ),
        (
            broken_model(|m| m["inputs"]["input_ids"] = json!("tokens"), &[]),
            &["\"tokens\"", "does not match its manifest"],
        ),
        (
            broken_model(|m| m["num_layers"] = json!(1), &[]),
            &["does not match its manifest"],
        ),
        (
            broken_model(|m| m["vocab_size"] = json!(1000), &[]),
            &["tokenizer", "vocabulary has 1000"],
        ),
    ];
    for (dir, fragments) in cases {
        check(dir.path(), fragments);
    }
}
