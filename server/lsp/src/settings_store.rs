//! Where each document's settings come from: the workspace roots' `precedent.toml` files and
//! the client's settings, resolved with [`crate::config`].
//!
//! Settings are resolved once per workspace root (and once for documents under no root)
//! when a layer changes, and shared: a request only looks its root up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::config::{self, Layer, Settings};

#[derive(Default)]
pub struct SettingsStore {
    /// Workspace roots, longest first (the deepest root containing a file is its root).
    roots: Vec<PathBuf>,
    workspace_files: HashMap<PathBuf, Value>,
    client: Value,
    /// The settings of each root, from the layers above.
    resolved: HashMap<PathBuf, Arc<Settings>>,
    /// The settings of a document under no root when there is no root at all.
    rootless: Arc<Settings>,
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
        problems.extend(self.resolve_all());
        problems
    }

    pub fn set_client(&mut self, settings: &Value) -> Vec<String> {
        self.client = config::client_section(settings);
        self.resolve_all()
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

    /// The settings for a document at `path`: those of its root, else of the first root.
    pub fn settings_for(&self, path: Option<&Path>) -> Arc<Settings> {
        match self
            .root_of(path)
            .or_else(|| self.roots.first().map(PathBuf::as_path))
        {
            Some(root) => self.settings_for_root(root),
            None => self.rootless.clone(),
        }
    }

    pub fn settings_for_root(&self, root: &Path) -> Arc<Settings> {
        match self.resolved.get(root) {
            Some(settings) => settings.clone(),
            // Not a root: resolved on the spot (only status and tests ask this).
            None => Arc::new(self.resolve(Some(root)).0),
        }
    }

    /// Resolves the settings of every root again; returns their warnings, each once.
    fn resolve_all(&mut self) -> Vec<String> {
        let mut all = Vec::new();
        let (rootless, warnings) = self.resolve(None);
        self.rootless = Arc::new(rootless);
        if self.roots.is_empty() {
            all.extend(warnings);
        }
        self.resolved.clear();
        for root in self.roots.clone() {
            let (settings, warnings) = self.resolve(Some(&root));
            for warning in warnings {
                if !all.contains(&warning) {
                    all.push(warning);
                }
            }
            self.resolved.insert(root, Arc::new(settings));
        }
        all
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
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn settings_are_resolved_when_a_layer_changes_not_per_request() {
        let mut store = SettingsStore::default();
        assert!(store
            .set_roots(vec!["/no/such/ws".into(), "/no/such/ws/inner".into()])
            .is_empty());
        let outer = Path::new("/no/such/ws/a.md");
        let inner = Path::new("/no/such/ws/inner/b.md");
        let first = store.settings_for(Some(outer));
        assert!(Arc::ptr_eq(&first, &store.settings_for(Some(outer))));
        // A document under no root takes the first (deepest) root's settings.
        assert!(Arc::ptr_eq(
            &store.settings_for(Some(inner)),
            &store.settings_for(None)
        ));
        assert_eq!(first.completion.max_items, 8);

        let warnings = store.set_client(&serde_json::json!({"precedent": {
            "completion": {"maxItems": 3},
            "indexPaths": "team.index",
            "k": 0,
        }}));
        assert_eq!(
            warnings,
            ["client settings: k = 0 ignored: must be at least 1"],
            "one warning, though two roots resolve it"
        );
        let changed = store.settings_for(Some(outer));
        assert!(!Arc::ptr_eq(&first, &changed));
        assert_eq!(changed.completion.max_items, 3);
        // Relative paths resolve against the document's own (deepest) root.
        assert_eq!(changed.index_paths, [Path::new("/no/such/ws/team.index")]);
        assert_eq!(
            store.settings_for(Some(inner)).index_paths,
            [Path::new("/no/such/ws/inner/team.index")]
        );
    }
}
