//! Where each document's settings come from: the workspace roots' `precedent.toml` files and
//! the client's settings, resolved with [`crate::config`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{self, Layer, Settings};

#[derive(Default)]
pub struct SettingsStore {
    /// Workspace roots, longest first (the deepest root containing a file is its root).
    roots: Vec<PathBuf>,
    workspace_files: HashMap<PathBuf, Value>,
    client: Value,
}

impl SettingsStore {
    /// Sets the roots and reads their `precedent.toml`; returns problems to log or show.
    pub fn set_roots(&mut self, mut roots: Vec<PathBuf>) -> Vec<String> {
        roots.sort_by_key(|r| std::cmp::Reverse(r.as_os_str().len()));
        roots.dedup();
        self.roots = roots;
        self.reload_workspace_files()
    }

    pub fn reload_workspace_files(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        self.workspace_files.clear();
        for root in &self.roots {
            match config::read_workspace_file(root) {
                Ok(Some(values)) => {
                    self.workspace_files.insert(root.clone(), values);
                }
                Ok(None) => {}
                Err(message) => problems.push(message),
            }
        }
        problems.extend(self.warnings());
        problems
    }

    pub fn set_client(&mut self, settings: &Value) -> Vec<String> {
        self.client = config::client_section(settings);
        self.warnings()
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The workspace root that holds `path` (the deepest), if any.
    pub fn root_of(&self, path: Option<&Path>) -> Option<&Path> {
        let path = path?;
        self.roots
            .iter()
            .find(|root| path.starts_with(root))
            .map(PathBuf::as_path)
    }

    /// The settings for a document at `path` (or for `root` itself).
    pub fn settings_for(&self, path: Option<&Path>) -> Settings {
        let root = self
            .root_of(path)
            .or_else(|| self.roots.first().map(PathBuf::as_path));
        self.resolve(root).0
    }

    pub fn settings_for_root(&self, root: &Path) -> Settings {
        self.resolve(Some(root)).0
    }

    fn resolve(&self, root: Option<&Path>) -> (Settings, Vec<String>) {
        let file_origin;
        let mut layers = Vec::new();
        if let Some((root, values)) = root.and_then(|r| self.workspace_files.get_key_value(r)) {
            file_origin = format!("{} at {}", config::WORKSPACE_FILE, root.display());
            layers.push(Layer {
                values,
                base_dir: Some(root),
                origin: &file_origin,
            });
        }
        layers.push(Layer {
            values: &self.client,
            base_dir: root,
            origin: "client settings",
        });
        Settings::resolve(&layers)
    }

    fn warnings(&self) -> Vec<String> {
        let mut all = Vec::new();
        if self.roots.is_empty() {
            all.extend(self.resolve(None).1);
        }
        for root in &self.roots {
            for warning in self.resolve(Some(root)).1 {
                if !all.contains(&warning) {
                    all.push(warning);
                }
            }
        }
        all
    }
}
