//! Finding the corpus files under the folders and files given.

use std::path::{Path, PathBuf};

use ignore::overrides::{Override, OverrideBuilder};
use ignore::WalkBuilder;

use super::{CorpusConfig, CorpusError, SkipReason, Warning};

/// The corpus files found, and the folder entries that could not be read.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Corpus files, sorted and without duplicates.
    pub files: Vec<PathBuf>,
    /// Entries that could not be read while walking the folders.
    pub warnings: Vec<Warning>,
}

/// Lists the corpus files under `paths`.
///
/// Files given explicitly are always listed (the reader reports an unknown extension).
/// Folders are walked recursively; a file in them is listed if its extension has a format
/// in `config`, it is not matched by `.gitignore`, `.ignore` or `config.exclude`, and it is
/// not hidden (a name starting with '.'). `.gitignore` applies even outside a Git
/// repository. Symbolic links to files are listed; links to folders are not followed.
pub fn discover(paths: &[PathBuf], config: &CorpusConfig) -> Result<Discovery, CorpusError> {
    let mut discovery = Discovery::default();
    for path in paths {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(CorpusError::NotFound(path.clone()));
            }
            Err(error) => {
                discovery.warnings.push(Warning {
                    path: path.clone(),
                    reason: SkipReason::Unreadable(error.to_string()),
                });
                continue;
            }
        };
        if metadata.is_dir() {
            walk_folder(path, config, &mut discovery)?;
        } else {
            discovery.files.push(path.clone());
        }
    }
    discovery.files.sort();
    discovery.files.dedup();
    // A file reached by two paths (a symbolic link to a file also in the corpus) is read
    // once, under the first of its paths.
    let mut seen = std::collections::HashSet::new();
    discovery
        .files
        .retain(|path| seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())));
    Ok(discovery)
}

fn walk_folder(
    root: &Path,
    config: &CorpusConfig,
    discovery: &mut Discovery,
) -> Result<(), CorpusError> {
    let walker = WalkBuilder::new(root)
        .overrides(exclude_overrides(root, &config.exclude)?)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let is_file = entry.file_type().is_some_and(|kind| {
                    kind.is_file() || (kind.is_symlink() && entry.path().is_file())
                });
                if is_file && config.format_of(entry.path()).is_some() {
                    discovery.files.push(entry.into_path());
                }
            }
            Err(error) => discovery.warnings.push(Warning {
                path: error_path(&error).unwrap_or(root).to_path_buf(),
                reason: SkipReason::Unreadable(error.to_string()),
            }),
        }
    }
    Ok(())
}

/// The exclude globs as ignore rules ("!glob" in the `ignore` crate's override syntax).
fn exclude_overrides(root: &Path, globs: &[String]) -> Result<Override, CorpusError> {
    let mut builder = OverrideBuilder::new(root);
    for glob in globs {
        builder
            .add(&format!("!{glob}"))
            .map_err(|error| CorpusError::InvalidExclude {
                glob: glob.clone(),
                message: error.to_string(),
            })?;
    }
    builder
        .build()
        .map_err(|error| CorpusError::InvalidExclude {
            glob: globs.join(" "),
            message: error.to_string(),
        })
}

fn error_path(error: &ignore::Error) -> Option<&Path> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Partial(errors) => errors.iter().find_map(error_path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Creates `files` (relative path, content) in a fresh folder.
    fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let folder = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = folder.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        folder
    }

    fn check(files: &[(&str, &str)], exclude: &[&str], expected: &[&str]) {
        let folder = folder_with(files);
        let config = CorpusConfig {
            exclude: exclude.iter().map(|glob| glob.to_string()).collect(),
            ..CorpusConfig::default()
        };
        let found = discover(&[folder.path().to_path_buf()], &config).unwrap();
        let found: Vec<String> = found
            .files
            .iter()
            .map(|path| {
                let relative = path.strip_prefix(folder.path()).unwrap();
                relative.to_string_lossy().replace('\\', "/")
            })
            .collect();
        assert_eq!(found, expected, "files {files:?}, exclude {exclude:?}");
    }

    #[test]
    fn folders_list_corpus_files_by_extension_in_path_order() {
        let files = [
            ("b.md", ""),
            ("a.TXT", ""),
            ("guide/z.rst", ""),
            ("guide/a.adoc", ""),
            ("page.htm", ""),
            ("notes.markdown", ""),
            ("code.rs", ""),
            ("image.png", ""),
            (".hidden.md", ""),
        ];
        let expected = [
            "a.TXT",
            "b.md",
            "guide/a.adoc",
            "guide/z.rst",
            "notes.markdown",
            "page.htm",
        ];
        check(&files, &[], &expected);
    }

    #[test]
    fn ignore_files_and_exclude_globs_leave_files_out() {
        // (files, exclude globs, files expected)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &[
                    (".gitignore", "build/\n*.draft.md\n"),
                    ("a.md", ""),
                    ("b.draft.md", ""),
                    ("build/out.html", ""),
                    ("sub/c.draft.md", ""),
                ],
                &[],
                &["a.md"],
            ),
            (
                &[
                    (".ignore", "private.txt\n"),
                    ("private.txt", ""),
                    ("public.txt", ""),
                ],
                &[],
                &["public.txt"],
            ),
            (
                &[
                    ("a.md", ""),
                    ("drafts/b.md", ""),
                    ("docs/CHANGELOG.md", ""),
                    ("docs/guide.md", ""),
                ],
                &["drafts/", "**/CHANGELOG.md"],
                &["a.md", "docs/guide.md"],
            ),
            (
                &[("a.md", ""), ("notes/a.txt", ""), ("deep/notes/b.txt", "")],
                &["/notes/*.txt"],
                &["a.md", "deep/notes/b.txt"],
            ),
        ];
        for (files, exclude, expected) in cases {
            check(files, exclude, expected);
        }
    }

    #[test]
    fn explicit_files_are_listed_once_whatever_their_extension() {
        let folder = folder_with(&[("a.md", ""), ("notes.tex", "")]);
        let a = folder.path().join("a.md");
        let tex = folder.path().join("notes.tex");
        let paths = [tex.clone(), folder.path().to_path_buf(), a.clone()];
        let found = discover(&paths, &CorpusConfig::default()).unwrap();
        assert_eq!(found.files, vec![a, tex]);
        assert!(found.warnings.is_empty());
    }

    #[test]
    fn missing_paths_and_bad_globs_are_errors() {
        let folder = folder_with(&[("a.md", "")]);
        let missing = folder.path().join("missing");
        let error = discover(std::slice::from_ref(&missing), &CorpusConfig::default()).unwrap_err();
        assert!(matches!(error, CorpusError::NotFound(path) if path == missing));

        let config = CorpusConfig {
            exclude: vec!["docs/[".to_string()],
            ..CorpusConfig::default()
        };
        let error = discover(&[folder.path().to_path_buf()], &config).unwrap_err();
        assert!(matches!(error, CorpusError::InvalidExclude { glob, .. } if glob == "docs/["));
    }
}
