//! Where precedent keeps its installed files: the ONNX Runtime library and the models.
//!
//! The data directory is `PRECEDENT_HOME` if set, else `$XDG_DATA_HOME/precedent`, else
//! `~/.local/share/precedent`. Inside it:
//!
//! ```text
//! runtime/libonnxruntime.so
//! models/<name>/manifest.json, model.onnx, tokenizer.json
//! ```
//!
//! Only environment variables are read here; nothing checks that the files exist.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The model `precedent setup` installs and every model-using command loads by default.
pub const DEFAULT_MODEL_NAME: &str = "smollm2-135m";

/// File name of the ONNX Runtime library inside the runtime directory.
pub const RUNTIME_LIBRARY_FILE: &str = "libonnxruntime.so";

/// File name of a model's manifest inside its directory (see models/MANIFEST.md).
pub const MANIFEST_FILE: &str = "manifest.json";

/// Which rule chose the data directory; shown by `precedent doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDirSource {
    PrecedentHome,
    XdgDataHome,
    Home,
}

impl std::fmt::Display for DataDirSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataDirSource::PrecedentHome => "from PRECEDENT_HOME",
            DataDirSource::XdgDataHome => "from XDG_DATA_HOME",
            DataDirSource::Home => "default under HOME",
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathsError {
    #[error(
        "cannot find precedent's data directory: none of PRECEDENT_HOME, XDG_DATA_HOME or HOME \
         is set; set PRECEDENT_HOME to a directory precedent may write to"
    )]
    NoHome,
}

/// precedent's data directory and the layout inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
    source: DataDirSource,
}

impl DataDir {
    /// The data directory chosen by this process's environment.
    pub fn from_env() -> Result<DataDir, PathsError> {
        DataDir::from_vars(|name| std::env::var_os(name))
    }

    /// The data directory chosen by the variables `var` returns (the environment, or a table in tests).
    ///
    /// Empty values count as unset; a relative `XDG_DATA_HOME` is ignored, as the XDG spec says.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<DataDir, PathsError> {
        let non_empty = |name: &str| var(name).filter(|value| !value.is_empty());
        if let Some(home) = non_empty("PRECEDENT_HOME") {
            return Ok(DataDir::new(
                PathBuf::from(home),
                DataDirSource::PrecedentHome,
            ));
        }
        if let Some(xdg) = non_empty("XDG_DATA_HOME").map(PathBuf::from) {
            if xdg.is_absolute() {
                return Ok(DataDir::new(
                    xdg.join("precedent"),
                    DataDirSource::XdgDataHome,
                ));
            }
        }
        if let Some(home) = non_empty("HOME") {
            let root = PathBuf::from(home).join(".local/share/precedent");
            return Ok(DataDir::new(root, DataDirSource::Home));
        }
        Err(PathsError::NoHome)
    }

    pub fn new(root: PathBuf, source: DataDirSource) -> DataDir {
        DataDir { root, source }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn source(&self) -> DataDirSource {
        self.source
    }

    /// Directory holding the ONNX Runtime library.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// The ONNX Runtime shared library `precedent setup` installs.
    pub fn runtime_library(&self) -> PathBuf {
        self.runtime_dir().join(RUNTIME_LIBRARY_FILE)
    }

    /// Directory holding one sub-directory per installed model.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Directory of the model called `name`.
    pub fn model_dir(&self, name: &str) -> PathBuf {
        self.models_dir().join(name)
    }

    /// Directory of the default model ([`DEFAULT_MODEL_NAME`]).
    pub fn default_model_dir(&self) -> PathBuf {
        self.model_dir(DEFAULT_MODEL_NAME)
    }
}

/// The manifest file of the model in `model_dir`.
pub fn manifest_path(model_dir: &Path) -> PathBuf {
    model_dir.join(MANIFEST_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vars: &[(&str, &str)], expected: Result<(&str, DataDirSource), PathsError>) {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        };
        let actual = DataDir::from_vars(lookup).map(|dir| (dir.root().to_path_buf(), dir.source()));
        let expected = expected.map(|(root, source)| (PathBuf::from(root), source));
        assert_eq!(actual, expected, "variables: {vars:?}");
    }

    #[test]
    fn data_dir_follows_the_documented_order() {
        use DataDirSource::*;
        let home = ("HOME", "/home/ann");
        let xdg = ("XDG_DATA_HOME", "/xdg");
        let precedent = ("PRECEDENT_HOME", "/opt/precedent");
        check(&[home], Ok(("/home/ann/.local/share/precedent", Home)));
        check(&[home, xdg], Ok(("/xdg/precedent", XdgDataHome)));
        check(
            &[home, xdg, precedent],
            Ok(("/opt/precedent", PrecedentHome)),
        );
        check(&[precedent], Ok(("/opt/precedent", PrecedentHome)));
        check(
            &[home, ("PRECEDENT_HOME", ""), xdg],
            Ok(("/xdg/precedent", XdgDataHome)),
        );
        check(
            &[home, ("XDG_DATA_HOME", "")],
            Ok(("/home/ann/.local/share/precedent", Home)),
        );
        check(
            &[home, ("XDG_DATA_HOME", "rel/data")],
            Ok(("/home/ann/.local/share/precedent", Home)),
        );
        check(&[], Err(PathsError::NoHome));
        check(&[("XDG_DATA_HOME", "relative")], Err(PathsError::NoHome));
    }

    #[test]
    fn layout_inside_the_data_dir() {
        let dir = DataDir::new(PathBuf::from("/d"), DataDirSource::PrecedentHome);
        let cases: [(PathBuf, &str); 6] = [
            (dir.runtime_dir(), "/d/runtime"),
            (dir.runtime_library(), "/d/runtime/libonnxruntime.so"),
            (dir.models_dir(), "/d/models"),
            (dir.model_dir("tiny"), "/d/models/tiny"),
            (dir.default_model_dir(), "/d/models/smollm2-135m"),
            (
                manifest_path(&dir.default_model_dir()),
                "/d/models/smollm2-135m/manifest.json",
            ),
        ];
        for (actual, expected) in cases {
            assert_eq!(actual, PathBuf::from(expected));
        }
    }
}
