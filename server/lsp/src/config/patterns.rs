//! `filePatterns`, compiled once when the settings are resolved.

use std::fmt;
use std::path::Path;

use globset::{GlobSet, GlobSetBuilder};

use super::values::glob;

/// Resolved globs (see the module documentation of `config`) and their compiled sets.
#[derive(Clone, Default)]
pub struct FilePatterns {
    patterns: Vec<String>,
    /// Patterns without `/`, matched against the file name.
    names: GlobSet,
    /// Patterns with `/`, matched against the whole path.
    paths: GlobSet,
}

impl FilePatterns {
    /// Compiles resolved patterns; one that is not a valid glob is skipped (resolution only
    /// produces valid ones, but tests and callers may build their own).
    pub fn new(patterns: Vec<String>) -> FilePatterns {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for pattern in &patterns {
            let Ok(glob) = glob(pattern) else { continue };
            if pattern.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        FilePatterns {
            names: names.build().unwrap_or_else(|_| GlobSet::empty()),
            paths: paths.build().unwrap_or_else(|_| GlobSet::empty()),
            patterns,
        }
    }

    pub fn as_slice(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_match(&self, path: &Path) -> bool {
        path.file_name()
            .is_some_and(|name| self.names.is_match(name))
            || self.paths.is_match(path)
    }
}

impl PartialEq for FilePatterns {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl fmt::Debug for FilePatterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.patterns.fmt(f)
    }
}
