//! precedent's language server: tower-lsp-server handlers over the engine's assistant
//! (`precedent_engine::assist`), which does all the editing work.
//!
//! `server` holds the backend and dispatches; `handlers` convert the assistant's answers
//! into lsp-types, one module per feature; `state` is what handlers and tasks share;
//! `background` loads the model, publishes hints and indexes corpus folders; `protocol`
//! types precedent's own messages; `config` and `settings_store` resolve settings;
//! `documents` and `text` keep the open documents and convert positions (UTF-16);
//! `transport` checks every frame on the wire before tower-lsp-server sees it. PROTOCOL.md is the
//! contract with editors.

// stdout carries the protocol: a stray print would corrupt it. Logs go through `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod background;
pub mod config;
mod documents;
mod handlers;
mod ignores;
mod protocol;
mod server;
mod settings_store;
mod state;
mod text;
pub mod transport;

pub use server::{serve, serve_stdio, ServeOptions};
pub use transport::Ending;
