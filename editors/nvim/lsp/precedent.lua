-- Runtime config for Neovim >= 0.11: with editors/nvim on 'runtimepath',
--   vim.lsp.enable("precedent")
-- starts `precedent serve` for markdown, text, rst, asciidoc and html buffers, no setup()
-- needed. Add settings with
--   vim.lsp.config("precedent", { settings = { precedent = { indexPaths = { "team.index" } } } })
-- (or call require("precedent").setup({ settings = { indexPaths = { "team.index" } } })).
return require("precedent").lsp_config(require("precedent").defaults)
