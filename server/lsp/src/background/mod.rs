//! Work the server does on its own, off the request path: loading the model, publishing
//! hints as documents change, indexing the configured corpus folders.

pub mod diagnostics;
pub mod indexing;
pub mod model;

/// A panic in a handler or task becomes a logged error and an empty answer, never a crash.
pub fn soft_fail<T>(result: Result<T, tokio::task::JoinError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "handler failed");
            None
        }
    }
}
