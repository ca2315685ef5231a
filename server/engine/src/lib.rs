//! precedent's engine: everything between a text and a kNN-LM distribution.
//!
//! No LSP, no JSON-RPC, no editor concepts beyond plain byte offsets.
//! Each module adds itself below with a one-line doc comment.

/// The assistant for open documents: completions, word usage and hints, with its caches.
pub mod assist;
/// Reading a reference corpus into prose documents with provenance and sentences.
pub mod corpus;
/// The on-disk index: f16 keys, values, provenance, documents, metadata, graph; one file.
pub mod datastore;
/// The pieces the assistant is built of: per-block analysis, similar usage, hints, completion.
pub mod editing;
/// Held-out evaluation: base vs kNN-LM perplexity and hit rates; tuning of λ and T.
pub mod evaluate;
/// The corpus sentences behind a prediction, shown as its evidence.
pub mod evidence;
/// Building a datastore from a corpus with the language model (incremental by content hash).
pub mod indexer;
/// kNN-LM scoring: p_kNN from neighbours, log-space interpolation, adaptive λ, tuning.
pub mod knn_scoring;
/// The kNN-LM distribution for a context: LM + corpus neighbours + document cache.
pub mod knnlm;
/// The corpus's vocabulary: word forms, their counts and spelling or case variants.
pub mod lexicon;
/// The language model: manifest, tokenizer, ONNX session worker, KV cache, scoring.
pub mod lm;
/// An index in a Milvus collection (`milvus://HOST:PORT/COLLECTION`): publishing and searching.
pub mod milvus;
/// Where precedent's data directory, runtime library and models live.
pub mod paths;
/// A small seeded random generator for synthetic data in tests and benchmarks.
pub mod random;
/// ONNX Runtime, loaded once per process from `ORT_DYLIB_PATH` or the data directory.
pub mod runtime;
/// Nearest-neighbour search over the keys: exact brute force and HNSW.
pub mod search;
/// The word choices a corpus states as rules: "Write select, not click or tap".
pub mod stated_rules;
