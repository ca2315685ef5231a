//! ONNX Runtime, loaded once per process from a shared library (`ort`'s `load-dynamic`).
//!
//! The library comes from `ORT_DYLIB_PATH` if set, else from precedent's data directory
//! (`runtime/libonnxruntime.so`, installed by `precedent setup`). ort panics when it cannot
//! load a library lazily, so this module checks the file first and always initialises ort
//! explicitly through [`init`] / [`init_from`], which return errors instead.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::logging::LogLevel;

use crate::paths::{DataDir, PathsError};

/// Environment variable that points at a specific `libonnxruntime.so`.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// Where the library path came from; error messages and `precedent doctor` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// `ORT_DYLIB_PATH`.
    EnvVar,
    /// precedent's data directory.
    DataDir,
    /// Given by the caller (a command-line option or a test).
    Explicit,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibrarySource::EnvVar => "from ORT_DYLIB_PATH",
            LibrarySource::DataDir => "in precedent's data directory",
            LibrarySource::Explicit => "given explicitly",
        })
    }
}

/// A candidate ONNX Runtime library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryLocation {
    pub path: PathBuf,
    pub source: LibrarySource,
}

impl LibraryLocation {
    /// `ORT_DYLIB_PATH` if set (and not empty), else the data directory's runtime library.
    pub fn from_env() -> Result<LibraryLocation, RuntimeError> {
        let from_var = std::env::var_os(ORT_DYLIB_PATH).filter(|value| !value.is_empty());
        match from_var {
            Some(path) => Ok(LibraryLocation {
                path: PathBuf::from(path),
                source: LibrarySource::EnvVar,
            }),
            None => Ok(LibraryLocation::in_data_dir(&DataDir::from_env()?)),
        }
    }

    pub fn in_data_dir(data_dir: &DataDir) -> LibraryLocation {
        LibraryLocation {
            path: data_dir.runtime_library(),
            source: LibrarySource::DataDir,
        }
    }

    pub fn explicit(path: impl Into<PathBuf>) -> LibraryLocation {
        LibraryLocation {
            path: path.into(),
            source: LibrarySource::Explicit,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime library was not found at {} ({origin}). Run `precedent setup` to \
         install it, or set ORT_DYLIB_PATH to an existing libonnxruntime.so (version 1.{} or newer)",
        path.display(), ort::MINOR_VERSION
    )]
    NotFound {
        path: PathBuf,
        origin: LibrarySource,
    },

    #[error(
        "the ONNX Runtime library at {} ({origin}) could not be loaded: {reason}. Run \
         `precedent setup` to reinstall it, or set ORT_DYLIB_PATH to a working libonnxruntime.so \
         (version 1.{} or newer)",
        path.display(), ort::MINOR_VERSION
    )]
    Unloadable {
        path: PathBuf,
        origin: LibrarySource,
        reason: String,
    },

    #[error(
        "ONNX Runtime is already loaded from {} and a process can load it only once; \
         {} was requested. Restart precedent with one library",
        loaded.display(), requested.display()
    )]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },

    #[error("ONNX Runtime loaded from {} but its environment could not be created: {reason}", path.display())]
    Environment { path: PathBuf, reason: String },

    #[error(transparent)]
    DataDir(#[from] PathsError),
}

/// The loaded ONNX Runtime: the process-wide `ort` environment sessions are created in.
/// Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    environment: Environment,
    library: PathBuf,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.inner.library)
            .finish()
    }
}

impl Runtime {
    pub fn environment(&self) -> &Environment {
        &self.inner.environment
    }

    /// The library file this runtime was loaded from.
    pub fn library(&self) -> &Path {
        &self.inner.library
    }

    /// ONNX Runtime's build description (version, git commit, compiler flags).
    pub fn build_info(&self) -> &'static str {
        ort::info()
    }
}

/// ort allows one library and one environment per process; this remembers them.
static LOADED: Mutex<Option<Runtime>> = Mutex::new(None);

/// Loads ONNX Runtime from `ORT_DYLIB_PATH` or the data directory (once per process).
pub fn init() -> Result<Runtime, RuntimeError> {
    init_from(&LibraryLocation::from_env()?)
}

/// Loads ONNX Runtime from `location`, or returns the runtime already loaded from the same file.
///
/// A failed attempt leaves nothing behind, so a later call (say after `precedent setup`) can succeed.
pub fn init_from(location: &LibraryLocation) -> Result<Runtime, RuntimeError> {
    let mut loaded = LOADED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(runtime) = loaded
        .as_ref()
        .filter(|runtime| same_file(runtime.library(), &location.path))
    {
        return Ok(runtime.clone());
    }
    // ort resolves a relative path against the executable's directory; resolve it against
    // the working directory instead, as a user typing it expects.
    let path = std::path::absolute(&location.path).unwrap_or_else(|_| location.path.clone());
    if !path.is_file() {
        return Err(RuntimeError::NotFound {
            path,
            origin: location.source,
        });
    }
    if let Some(runtime) = loaded.as_ref() {
        return Err(RuntimeError::AlreadyLoaded {
            loaded: runtime.library().to_path_buf(),
            requested: path,
        });
    }
    let runtime = load(&path, location.source)?;
    *loaded = Some(runtime.clone());
    Ok(runtime)
}

fn load(path: &Path, origin: LibrarySource) -> Result<Runtime, RuntimeError> {
    let unloadable = |reason: String| RuntimeError::Unloadable {
        path: path.to_path_buf(),
        origin,
        reason,
    };
    // ort asserts on some malformed libraries instead of returning an error; contain that.
    let builder = catch_unwind(AssertUnwindSafe(|| ort::init_from(path)))
        .map_err(|panic| unloadable(panic_message(panic)))?
        .map_err(|error| unloadable(error.to_string()))?;
    let environment = catch_unwind(AssertUnwindSafe(|| {
        builder
            .with_name("precedent")
            .with_telemetry(false)
            .with_logger(Arc::new(forward_to_tracing))
            .build()
    }))
    .map_err(|panic| unloadable(panic_message(panic)))?
    .map_err(|error| RuntimeError::Environment {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    // The custom logger starts at verbose; warnings and worse are what a user may act on.
    environment.set_log_level(LogLevel::Warning);
    tracing::info!(library = %path.display(), "loaded ONNX Runtime");
    Ok(Runtime {
        inner: Arc::new(RuntimeInner {
            environment,
            library: path.to_path_buf(),
        }),
    })
}

/// ONNX Runtime's own log lines go through `tracing` (stderr), never to stdout.
fn forward_to_tracing(level: LogLevel, category: &str, _id: &str, location: &str, message: &str) {
    match level {
        LogLevel::Verbose => {
            tracing::trace!(target: "onnxruntime", category, location, "{message}")
        }
        LogLevel::Info => tracing::debug!(target: "onnxruntime", category, location, "{message}"),
        LogLevel::Warning => tracing::warn!(target: "onnxruntime", category, location, "{message}"),
        LogLevel::Error | LogLevel::Fatal => {
            tracing::error!(target: "onnxruntime", category, location, "{message}")
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    let canonical =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    canonical(a) == canonical(b)
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "ONNX Runtime panicked while loading".to_string()
    }
}
