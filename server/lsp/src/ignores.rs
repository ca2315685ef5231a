//! Words the writer asked not to be hinted: in one sentence of one document, or in the whole
//! workspace. Kept by the server in its data directory (one file per workspace root), so the
//! choice holds in every client and across restarts.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ignores {
    /// Lower-case words never hinted in this workspace.
    #[serde(default)]
    pub workspace: BTreeSet<String>,
    /// (document URI, lower-case word, sentence fingerprint) hinted nowhere else.
    #[serde(default)]
    pub here: BTreeSet<(String, String, String)>,
    #[serde(skip)]
    file: Option<PathBuf>,
}

impl Ignores {
    /// The ignores stored for the workspace `root` under `data_dir` (empty if none yet or
    /// unreadable; a broken file is logged and left for the next save to replace).
    pub fn load(data_dir: &Path, root: Option<&Path>) -> Ignores {
        let file = data_dir
            .join("workspaces")
            .join(format!(
                "{:016x}",
                fingerprint(&root.map(|r| r.display().to_string()).unwrap_or_default())
            ))
            .join("ignores.json");
        let mut ignores = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(file = %file.display(), %error, "ignored-word list unreadable; starting empty");
                Ignores::default()
            }),
            Err(_) => Ignores::default(),
        };
        ignores.file = Some(file);
        ignores
    }

    pub fn ignores(&self, uri: &str, word: &str, sentence: &str) -> bool {
        let word = word.to_lowercase();
        self.workspace.contains(&word)
            || self
                .here
                .contains(&(uri.to_string(), word, sentence_fingerprint(sentence)))
    }

    pub fn ignore_here(&mut self, uri: &str, word: &str, sentence_fingerprint: &str) {
        self.here.insert((
            uri.to_string(),
            word.to_lowercase(),
            sentence_fingerprint.to_string(),
        ));
    }

    pub fn ignore_in_workspace(&mut self, word: &str) {
        self.workspace.insert(word.to_lowercase());
    }

    /// Writes the list (temporary file + rename, so a crash never leaves half a file).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = file.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&temporary, file)
    }
}

/// A short stable fingerprint of a sentence's text ("ignore here" survives edits elsewhere).
pub fn sentence_fingerprint(sentence: &str) -> String {
    format!("{:016x}", fingerprint(sentence.trim()))
}

/// FNV-1a: stable across runs and platforms, unlike `DefaultHasher`'s seed policy.
fn fingerprint(text: &str) -> u64 {
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    text.hash(&mut hasher);
    hasher.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_persist_per_workspace() {
        let data = tempfile::tempdir().unwrap();
        let root = Path::new("/work/team-docs");
        let mut ignores = Ignores::load(data.path(), Some(root));
        ignores.ignore_in_workspace("Utilise");
        let sentence = "We utilise the tool.";
        ignores.ignore_here("file:///a.md", "tool", &sentence_fingerprint(sentence));
        ignores.save().unwrap();

        let again = Ignores::load(data.path(), Some(root));
        assert!(again.ignores("file:///b.md", "utilise", "Any sentence."));
        assert!(again.ignores("file:///a.md", "Tool", " We utilise the tool. "));
        assert!(!again.ignores("file:///a.md", "tool", "Another sentence."));
        assert!(!again.ignores("file:///b.md", "tool", sentence));
        let other_root = Ignores::load(data.path(), Some(Path::new("/elsewhere")));
        assert!(!other_root.ignores("file:///b.md", "utilise", "x"));
    }
}
