//! One connection to a Milvus engine, callable from synchronous code: the SDK is async, so
//! the connection owns a small tokio runtime and each call waits for its answer on a
//! channel. That works on any thread, including a tokio blocking thread of the language
//! server (where `block_on` of a second runtime would panic).

use std::future::Future;
use std::time::Duration;

use milvus::v2::prelude::*;
use milvus::v2::types::TelemetryConfig;
use std::result::Result;

use super::{MilvusError, MilvusLocation, TOKEN_VARIABLE};

/// How long connecting may take before the engine counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take. Long enough for an index build's pieces, short enough that
/// a stopped engine is reported rather than waited for.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct Connection {
    runtime: tokio::runtime::Runtime,
    client: ClientV2,
    location: MilvusLocation,
}

impl Connection {
    pub fn open(location: &MilvusLocation) -> Result<Connection, MilvusError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("milvus")
            .enable_all()
            .build()
            .map_err(|e| MilvusError::unreachable(location, e))?;
        let mut config = ConnectConfig::new()
            .uri(location.endpoint())
            .connect_timeout(CONNECT_TIMEOUT)
            .rpc_timeout(CALL_TIMEOUT)
            // The SDK reports usage to the engine unless told not to; we send nothing extra.
            .telemetry(TelemetryConfig::new().enabled(false))
            // No retries inside the SDK: a search the writer waits for fails fast, and the
            // index tries again later by itself (MilvusIndex::prefetch).
            .retry(RetryConfig::new().max_attempts(1));
        if let Ok(token) = std::env::var(TOKEN_VARIABLE) {
            config = config.token(token);
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let connected = tokio::time::timeout(CONNECT_TIMEOUT * 2, ClientV2::new(&config)).await;
            let _ = sender.send(connected);
        });
        let client = match receiver.recv() {
            Ok(Ok(Ok(client))) => client,
            Ok(Ok(Err(error))) => return Err(MilvusError::unreachable(location, error)),
            Ok(Err(_)) => return Err(MilvusError::unreachable(location, "no answer in time")),
            Err(_) => {
                return Err(MilvusError::unreachable(
                    location,
                    "the connection task ended",
                ))
            }
        };
        Ok(Connection {
            runtime,
            client,
            location: location.clone(),
        })
    }

    pub fn location(&self) -> &MilvusLocation {
        &self.location
    }

    /// Runs one SDK call (`what` names it in errors) and waits for its result, up to
    /// [`CALL_TIMEOUT`].
    pub fn call<T, F>(&self, what: &str, call: impl FnOnce(ClientV2) -> F) -> Result<T, MilvusError>
    where
        T: Send + 'static,
        F: Future<Output = milvus::v2::prelude::Result<T>> + Send + 'static,
    {
        self.call_within(CALL_TIMEOUT, what, call)
    }

    /// As [`call`](Self::call), waiting at most `timeout`.
    pub fn call_within<T, F>(
        &self,
        timeout: Duration,
        what: &str,
        call: impl FnOnce(ClientV2) -> F,
    ) -> Result<T, MilvusError>
    where
        T: Send + 'static,
        F: Future<Output = milvus::v2::prelude::Result<T>> + Send + 'static,
    {
        let future = call(self.client.clone());
        let (sender, receiver) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = sender.send(tokio::time::timeout(timeout, future).await);
        });
        let failed = |detail: String| MilvusError::Call {
            location: self.location.to_string(),
            what: what.to_string(),
            detail,
        };
        let started = std::time::Instant::now();
        let answer = receiver.recv();
        tracing::debug!(
            what,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "Milvus call"
        );
        match answer {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(failed(error.to_string())),
            Ok(Err(_)) => Err(failed(format!(
                "no answer in {:.1} s",
                timeout.as_secs_f64()
            ))),
            Err(_) => Err(failed("the call's task ended".into())),
        }
    }
}
