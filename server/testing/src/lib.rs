//! Test support shared by precedent's crates: the tiny test model and ONNX Runtime (loaded
//! once per test binary), corpora written to temporary folders and indexed with the tiny
//! model, and the seeded random generator.
//!
//! Missing prerequisites fail the tests (never skip them), with the command that fixes it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use precedent_engine::indexer::{self, IndexOptions, IndexReport};
use precedent_engine::lm::{LanguageModel, SessionOptions};
use precedent_engine::runtime::{self, Runtime};

pub use precedent_engine::random::SplitMix64;

const HOW_TO_BUILD: &str = "build it with `bash tests/run.sh` (all tests) or \
    `PYTHONPATH=models python3 -m precedent_models.setup --tiny-out target/models/tiny`, \
    or point PRECEDENT_TEST_MODEL at a model directory";

/// `PRECEDENT_TEST_MODEL`, else `<workspace>/target/models/tiny`.
pub fn test_model_dir() -> PathBuf {
    let dir = match std::env::var_os("PRECEDENT_TEST_MODEL").filter(|value| !value.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/models/tiny"),
    };
    assert!(
        dir.join("manifest.json").is_file(),
        "the tiny test model is missing at {}: {HOW_TO_BUILD}",
        dir.display()
    );
    dir
}

/// ONNX Runtime from `ORT_DYLIB_PATH` (tests/run.sh sets it) or the data directory.
pub fn test_runtime() -> Runtime {
    runtime::init().unwrap_or_else(|error| panic!("tests need ONNX Runtime: {error}"))
}

/// The tiny model, loaded once and shared by the tests of one binary.
pub fn tiny_model() -> &'static LanguageModel {
    static MODEL: OnceLock<LanguageModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        LanguageModel::load(
            &test_runtime(),
            &test_model_dir(),
            SessionOptions::default(),
        )
        .unwrap_or_else(|error| panic!("cannot load the test model: {error}"))
    })
}

/// Writes `files` (name, text) into `dir`, creating it.
pub fn write_corpus(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Indexes the corpus folder `corpus` into `out` with the tiny model and short windows (its
/// context is short).
pub fn build_index(corpus: &Path, out: &Path) -> IndexReport {
    let options = IndexOptions {
        window: 64,
        stride: 32,
        ..IndexOptions::default()
    };
    indexer::build_index(
        tiny_model(),
        &[corpus.to_path_buf()],
        out,
        &options,
        &mut |_| {},
    )
    .unwrap_or_else(|error| panic!("cannot index {}: {error}", corpus.display()))
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared slices differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A corpus's habit, in three sentences: the zebra council's umbrellas. A word-choice hint
/// needs the house word in at least three corpus sentences.
pub const COUNCIL_HABIT: [&str; 3] = [
    "The zebra council approves purple umbrellas every Thursday.",
    "The zebra council buys purple umbrellas every Thursday.",
    "The zebra council lends purple umbrellas every Thursday.",
];

/// English prose of a few hundred tokens, for scoring tests.
pub const PROSE: &str = "The committee met on Tuesday to review the draft of the annual report. \
Most members agreed that the section on regional sales needed more detail, and several asked for \
a clearer summary of the risks the company faces next year. The chair proposed that each \
department send a short note by the end of the month.";
