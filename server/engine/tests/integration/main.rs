//! The engine's integration tests on the tiny test model, in one binary so that it links
//! and loads ONNX Runtime and the model once. (`tests/lm_runtime.rs` stays a binary of its
//! own: it needs a process in which ONNX Runtime was never loaded.)

mod editing;
mod knnlm_index;
mod lm_load;
mod lm_model;
mod lm_tokenizer;
