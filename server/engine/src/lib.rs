//! precedent's engine: everything between a text and a kNN-LM distribution.
//!
//! No LSP, no JSON-RPC, no editor concepts beyond plain byte offsets.
//! Each module adds itself below with a one-line doc comment.
