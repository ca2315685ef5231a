//! precedent's language server: tower-lsp handlers over the engine.
//!
//! `server` holds the backend and dispatches; `handlers` convert engine results into
//! lsp-types, one module per feature; `engine` owns the model, indexes and analysis cache;
//! `config` and `settings_store` resolve settings; `documents` and `text` keep the open
//! documents and convert positions (UTF-16); `transport` checks every frame on the wire
//! before tower-lsp sees it. PROTOCOL.md is the contract with editors.

// stdout carries the protocol: a stray print would corrupt it. Logs go through `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod config;
mod documents;
mod handlers;
mod ignores;
mod indexing;
mod server;
mod settings_store;
mod text;
pub mod transport;

pub use server::{serve_stdio, ServeOptions};
