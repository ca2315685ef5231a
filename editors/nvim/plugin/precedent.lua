-- Loaded at startup when editors/nvim is on 'runtimepath'. Cheap: commands and one autocmd;
-- the LSP client starts only after require("precedent").setup() or vim.lsp.enable("precedent").
if vim.g.loaded_precedent then
  return
end
vim.g.loaded_precedent = true

vim.api.nvim_create_user_command("PrecedentStatus", function()
  require("precedent").show_status(vim.api.nvim_get_current_buf())
end, { desc = "precedent: model, indexes and parameters of the running server" })

vim.api.nvim_create_user_command("PrecedentReindex", function()
  require("precedent").reindex(vim.api.nvim_get_current_buf())
end, { desc = "precedent: re-index the corpus (workspace/executeCommand precedent.reindex)" })

vim.api.nvim_create_autocmd("LspAttach", {
  group = vim.api.nvim_create_augroup("precedent.attach", { clear = true }),
  desc = "precedent: buffer-local keymaps",
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if client and client.name == "precedent" then
      require("precedent").on_attach(client, args.buf)
    end
  end,
})
