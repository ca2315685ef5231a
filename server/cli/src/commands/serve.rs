//! `precedent serve`: the language server on stdin/stdout.

use std::time::Duration;

use clap::Args as ClapArgs;

use crate::options::GlobalOptions;

/// Run the language server (LSP over stdin/stdout) for editors
///
/// Editors start this command themselves (see editors/vscode and editors/nvim). Settings
/// come from the editor and from a `precedent.toml` at the workspace root (see
/// server/lsp/PROTOCOL.md). Logs go to stderr; -v for more. It exits on `exit` or when
/// stdin closes: with code 0 if the client asked for `shutdown` first, else 1.
#[derive(ClapArgs)]
#[command(after_help = "Example: precedent serve            (spoken to by an editor, not typed)")]
pub struct Args {
    /// Accepted for compatibility with clients that pass it (stdio is the only transport).
    #[arg(long)]
    stdio: bool,
}

pub fn run(global: &GlobalOptions, _args: &Args) -> anyhow::Result<()> {
    let options = precedent_lsp::ServeOptions {
        model_dir: global.model.clone(),
        threads: usize::from(global.threads),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ending = runtime.block_on(precedent_lsp::serve_stdio(options));
    // Model runs, indexing and the blocked read of stdin are not waited for: the client has
    // gone. An index build stopped here never replaced the old index (it renames at the end).
    runtime.shutdown_timeout(Duration::from_millis(100));
    if !ending.shut_down {
        anyhow::bail!(
            "the session ended ({}) without a shutdown request",
            ending.reason
        );
    }
    Ok(())
}
