//! precedent language server (filled in by the LSP issue).
