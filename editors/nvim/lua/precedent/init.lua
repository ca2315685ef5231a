-- precedent for Neovim: starts `precedent serve` (LSP over stdio) for prose buffers and adds
-- a few conveniences on top of Neovim's built-in LSP client (keymaps, :PrecedentStatus,
-- :PrecedentReindex, :checkhealth precedent). The contract with the server is
-- server/lsp/PROTOCOL.md.
local M = {}

M.name = "precedent"

-- Neovim filetype -> LSP languageId. Neovim sends the filetype as languageId unless a config
-- says otherwise; the server knows the LSP names ("plaintext", "restructuredtext").
M.language_ids = {
  text = "plaintext",
  rst = "restructuredtext",
  asciidoctor = "asciidoc",
  htmldjango = "html",
}

-- The server's default `languages` setting (PROTOCOL.md).
M.server_languages = { "markdown", "plaintext", "restructuredtext", "asciidoc", "html" }

-- Settings whose value is a list: an empty one is sent as [] (the others are objects).
local LIST_SETTINGS = { indexPaths = true, corpus = true, languages = true, filePatterns = true }

M.defaults = {
  cmd = { "precedent", "serve" },
  filetypes = { "markdown", "text", "rst", "asciidoc", "html" },
  root_markers = { "precedent.toml", ".git" },
  -- PROTOCOL.md settings, nested as there: { indexPaths = {...}, completion = { maxItems = 8 } }.
  -- Dotted keys ("completion.maxItems") are accepted too. Unset = the server's default or
  -- the workspace's precedent.toml.
  settings = {},
  -- true: the default keymaps below; false: none; a table: overrides per action, a key set to
  -- false drops that mapping.
  keymaps = true,
  -- Point 'omnifunc' at the LSP client in attached buffers (the markdown and html ftplugins
  -- set it to htmlcomplete), so <C-x><C-o> shows precedent's suggestions.
  omnifunc = true,
  -- Neovim >= 0.11: vim.lsp.completion.enable(..., { autotrigger = true }): the completion menu
  -- opens by itself after a space (the server's trigger character). The buffer's 'completeopt'
  -- becomes M.autocomplete_completeopt, so nothing is inserted until the writer picks an item.
  autocomplete = false,
  -- Neovim >= 0.12: vim.lsp.inline_completion: the phrase the model and the corpus are sure
  -- of shows as ghost text after the cursor; insert-mode keys accept it
  -- (M.default_ghost_text_keymaps; a key here overrides one, false drops it).
  ghost_text = false,
  ghost_text_keymaps = {},
  -- Extra fields merged into the LSP config (capabilities, on_attach, handlers, ...).
  lsp = {},
}

M.default_keymaps = {
  evidence = "<leader>pe", -- hover: the corpus sentences behind the word under the cursor
  actions = "<leader>pa", -- code actions: replace with the preferred word, ignore a hint
  reindex = "<leader>pr", -- workspace/executeCommand precedent.reindex
  status = "<leader>ps", -- precedent/status, printed
}

-- Insert-mode keys of `ghost_text` (each falls back to the key itself when no ghost text
-- shows).
M.default_ghost_text_keymaps = {
  accept = "<C-l>", -- the whole ghost text
  accept_word = "<M-l>", -- its first word
}

M.options = vim.deepcopy(M.defaults)

-- 'completeopt' of buffers with `autocomplete`: a menu that opens while the writer types must
-- not change the text. Neovim's default ("menu,popup") inserts the first item as the menu
-- opens, so the next keys are appended to a word the writer never chose; "noinsert" still
-- pre-selects it, so <CR> at a pause accepts it instead of starting a new line. "noselect"
-- does neither (<C-n> then <C-y> accepts an item). "menuone": a single suggestion is shown
-- too. Tried in a real Neovim UI by tests/test_nvim.py.
M.autocomplete_completeopt = "menu,menuone,noselect,popup"

-- Last `precedent/statusChanged` (or status result) per client id.
M.statuses = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

-- Client methods are called with ':' from 0.11 on and with '.' before.
local function call(client, method, ...)
  if has_011 then
    return client[method](client, ...)
  end
  return client[method](...)
end

--- Settings with dotted keys expanded into nested tables ("completion.maxItems" = 5 ->
--- completion = { maxItems = 5 }) and empty object tables dropped (Lua's {} would be sent
--- as a JSON array).
function M.normalize_settings(settings)
  local out = {}
  for key, value in pairs(settings or {}) do
    local parts = vim.split(key, ".", { plain = true })
    local t = out
    for i = 1, #parts - 1 do
      t[parts[i]] = type(t[parts[i]]) == "table" and t[parts[i]] or {}
      t = t[parts[i]]
    end
    local last = parts[#parts]
    if type(value) == "table" and not LIST_SETTINGS[last] and (next(value) == nil or not vim.islist(value)) then
      value = vim.tbl_deep_extend("force", type(t[last]) == "table" and t[last] or {}, M.normalize_settings(value))
      if next(value) == nil then
        value = nil
      end
    end
    t[last] = value
  end
  return out
end

--- The languageId sent for a buffer of filetype `ft`.
function M.language_id(_, ft)
  return M.language_ids[ft] or ft
end

--- The settings sent to the server for `opts`: the user's settings, plus a `languages` list
--- when a configured filetype maps to a languageId the server does not act on by default.
function M.server_settings(opts)
  local settings = M.normalize_settings(opts.settings)
  local wanted = {}
  for _, ft in ipairs(opts.filetypes or {}) do
    local id = M.language_id(nil, ft)
    if not vim.tbl_contains(settings.languages or M.server_languages, id) then
      table.insert(wanted, id)
    end
  end
  if #wanted > 0 then
    settings.languages = vim.list_extend(vim.deepcopy(settings.languages or M.server_languages), wanted)
  end
  return settings
end

local function on_status_changed(_, result, ctx)
  local previous = M.statuses[ctx.client_id]
  M.statuses[ctx.client_id] = result
  if type(result) == "table" and result.modelError ~= nil and result.modelError ~= vim.NIL then
    if not previous or previous.modelError ~= result.modelError then
      vim.schedule(function()
        vim.notify("precedent: " .. tostring(result.modelError), vim.log.levels.WARN)
      end)
    end
  end
  vim.schedule(function()
    vim.api.nvim_exec_autocmds("User", { pattern = "PrecedentStatus", data = { client_id = ctx.client_id, status = result } })
  end)
end

--- The LSP client config for `opts` (M.options when nil): used by setup(), by the runtime
--- file lsp/precedent.lua and by the nvim-lspconfig registration.
function M.lsp_config(opts)
  opts = opts or M.options
  local settings = M.server_settings(opts)
  local config = {
    cmd = vim.deepcopy(opts.cmd),
    filetypes = vim.deepcopy(opts.filetypes),
    root_markers = vim.deepcopy(opts.root_markers),
    get_language_id = M.language_id,
    handlers = { ["precedent/statusChanged"] = on_status_changed },
    -- Settings set with vim.lsp.config("precedent", { settings = { precedent = ... } }) alone
    -- reach the server at initialization too.
    before_init = function(params, config)
      local s = config.settings and config.settings.precedent
      if params.initializationOptions == nil and type(s) == "table" and next(s) ~= nil then
        params.initializationOptions = s
      end
    end,
  }
  if next(settings) ~= nil then
    config.init_options = settings
    config.settings = { precedent = vim.deepcopy(settings) }
  end
  return vim.tbl_deep_extend("force", config, opts.lsp or {})
end

local function merge_opts(opts)
  opts = opts or {}
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  -- Lists replace, they are not merged index by index (Neovim < 0.11 merges them).
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts[key] ~= nil then
      merged[key] = vim.deepcopy(opts[key])
    end
  end
  if opts.settings ~= nil then
    merged.settings = vim.deepcopy(opts.settings)
  end
  return merged
end

--- require("precedent").setup({ cmd = ..., filetypes = ..., settings = ..., keymaps = ... })
function M.setup(opts)
  M.options = merge_opts(opts)
  M.did_setup = true
  local config = M.lsp_config(M.options)
  if has_011 then
    vim.lsp.config(M.name, config)
    vim.lsp.enable(M.name)
  else
    -- Neovim 0.10: start (or reuse) the client on FileType.
    local group = vim.api.nvim_create_augroup("precedent.start", { clear = true })
    local function start(bufnr)
      if vim.bo[bufnr].buftype ~= "" then
        return
      end
      local c = vim.deepcopy(config)
      c.name = M.name
      c.root_dir = vim.fs.root(bufnr, c.root_markers)
      vim.lsp.start(c, { bufnr = bufnr })
    end
    vim.api.nvim_create_autocmd("FileType", {
      group = group,
      pattern = config.filetypes,
      callback = function(args)
        start(args.buf)
      end,
    })
    -- Buffers already open (setup() called late, e.g. by a lazy-loading plugin manager).
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
        start(bufnr)
      end
    end
  end
  return M
end

--- Changes settings at run time, e.g. update_settings({ hints = { enabled = false } }): merged
--- into the current ones and sent to running servers (workspace/didChangeConfiguration);
--- servers started later get them too.
function M.update_settings(settings)
  M.options.settings = vim.tbl_deep_extend(
    "force",
    M.normalize_settings(M.options.settings),
    M.normalize_settings(settings)
  )
  local normalized = M.server_settings(M.options)
  if has_011 then
    vim.lsp.config(M.name, { init_options = normalized, settings = { precedent = normalized } })
  end
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client.settings = vim.tbl_deep_extend("force", client.settings or {}, { precedent = normalized })
    call(client, "notify", "workspace/didChangeConfiguration", { settings = client.settings })
  end
end

--- Registers precedent with nvim-lspconfig (older setups):
---   require("precedent").lspconfig()
---   require("lspconfig").precedent.setup({ settings = { precedent = { indexPaths = {...} } } })
function M.lspconfig(opts)
  local configs = require("lspconfig.configs")
  local util = require("lspconfig.util")
  local config = M.lsp_config(opts and merge_opts(opts) or M.options)
  config.root_dir = util.root_pattern(unpack(config.root_markers))
  config.root_markers = nil
  config.single_file_support = true
  if not configs[M.name] then
    configs[M.name] = {
      default_config = config,
      docs = { description = "precedent: next-word suggestions from your team's documents (kNN-LM)." },
    }
  end
  return configs[M.name]
end

--- The running precedent client for `bufnr` (else any running precedent client).
function M.client(bufnr)
  local get = vim.lsp.get_clients
  local clients = get({ name = M.name, bufnr = bufnr or vim.api.nvim_get_current_buf() })
  if #clients == 0 then
    clients = get({ name = M.name })
  end
  return clients[1]
end

local function thousands(n)
  local s = tostring(math.floor(n))
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end

local function present(v)
  return v ~= nil and v ~= vim.NIL
end

-- 0.89999997615814 (an f32 on the wire) -> "0.9"
local function number(v)
  return type(v) == "number" and ("%.4g"):format(v) or tostring(v)
end

--- A precedent/status result as lines of text.
function M.format_status(status)
  if type(status) ~= "table" then
    return { "precedent: no status" }
  end
  local lines = {}
  if present(status.model) then
    table.insert(lines, "precedent: model " .. tostring(status.model))
  else
    table.insert(lines, "precedent: no model loaded")
  end
  if present(status.modelError) then
    table.insert(lines, "  model error: " .. tostring(status.modelError))
  end
  local indexes = present(status.indexes) and status.indexes or {}
  if #indexes == 0 then
    table.insert(lines, "  no index (set indexPaths or corpus)")
  end
  for _, index in ipairs(indexes) do
    local parts = {}
    if present(index.entries) then
      table.insert(parts, thousands(index.entries) .. " entries")
    end
    if present(index.documents) then
      table.insert(parts, thousands(index.documents) .. " documents")
    end
    if present(index.modified) then
      table.insert(parts, "modified " .. tostring(index.modified))
    end
    table.insert(lines, ("  index %s: %s"):format(tostring(index.path), table.concat(parts, ", ")))
  end
  local state = status.indexing == true and "indexing now" or "idle"
  if present(status.lastUpdate) then
    state = state .. ", last update " .. tostring(status.lastUpdate)
  end
  table.insert(lines, "  " .. state)
  local params = {}
  if present(status.k) then
    table.insert(params, "k " .. number(status.k))
  end
  if present(status.lambda) then
    table.insert(params, "lambda " .. number(status.lambda))
  end
  if present(status.temperature) then
    table.insert(params, "T " .. number(status.temperature))
  end
  if present(status.documentCache) then
    table.insert(params, "document cache " .. (status.documentCache and "on" or "off"))
  end
  if #params > 0 then
    table.insert(lines, "  " .. table.concat(params, ", "))
  end
  return lines
end

--- Requests precedent/status and waits for it (at most `timeout_ms`, default 3000).
--- Returns the status table, or nil and an error message.
function M.status_sync(bufnr, timeout_ms)
  local client = M.client(bufnr)
  if not client then
    return nil, "precedent is not running for this buffer"
  end
  local response, err = call(client, "request_sync", "precedent/status", nil, timeout_ms or 3000, bufnr)
  if not response then
    return nil, "precedent/status: " .. tostring(err or "no response")
  end
  if response.err then
    return nil, "precedent/status: " .. tostring(response.err.message or vim.inspect(response.err))
  end
  M.statuses[client.id] = response.result
  return response.result
end

--- :PrecedentStatus / <leader>ps
function M.show_status(bufnr)
  local status, err = M.status_sync(bufnr)
  if not status then
    vim.notify(err, vim.log.levels.WARN)
    return
  end
  vim.api.nvim_echo({ { table.concat(M.format_status(status), "\n") } }, true, {})
end

--- :PrecedentReindex / <leader>pr: workspace/executeCommand precedent.reindex.
function M.reindex(bufnr)
  local client = M.client(bufnr)
  if not client then
    vim.notify("precedent is not running for this buffer", vim.log.levels.WARN)
    return
  end
  local params = { command = "precedent.reindex", arguments = {} }
  call(client, "request", "workspace/executeCommand", params, function(err)
    if err then
      vim.notify("precedent.reindex: " .. tostring(err.message), vim.log.levels.ERROR)
    else
      vim.notify("precedent: re-indexing", vim.log.levels.INFO)
    end
  end, bufnr)
end

local function keymap_table(keymaps)
  if keymaps == false then
    return {}
  end
  local maps = vim.deepcopy(M.default_keymaps)
  if type(keymaps) == "table" then
    for action, key in pairs(keymaps) do
      maps[action] = key
    end
  end
  return maps
end

--- Buffer-local keymaps and options for a buffer the precedent client attached to (called
--- from the LspAttach autocmd in plugin/precedent.lua).
function M.on_attach(client, bufnr)
  local opts = M.options
  local actions = {
    evidence = { vim.lsp.buf.hover, "precedent: show evidence (hover)" },
    actions = { vim.lsp.buf.code_action, "precedent: code actions" },
    reindex = {
      function()
        M.reindex(bufnr)
      end,
      "precedent: re-index the corpus",
    },
    status = {
      function()
        M.show_status(bufnr)
      end,
      "precedent: status",
    },
  }
  for action, key in pairs(keymap_table(opts.keymaps)) do
    if key and actions[action] then
      vim.keymap.set("n", key, actions[action][1], { buffer = bufnr, desc = actions[action][2] })
    end
  end
  if opts.omnifunc and vim.bo[bufnr].omnifunc ~= "v:lua.vim.lsp.omnifunc" then
    vim.bo[bufnr].omnifunc = "v:lua.vim.lsp.omnifunc"
  end
  if opts.autocomplete and has_011 and vim.lsp.completion then
    vim.bo[bufnr].completeopt = M.autocomplete_completeopt
    vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = true })
  end
  if opts.ghost_text and vim.lsp.inline_completion then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    M.set_ghost_text_keymaps(bufnr, opts.ghost_text_keymaps)
  end
end

--- The first word of a ghost text item, from the start of its range: what accept_word
--- inserts ("umbrellas every Thursday" -> "umbrellas").
function M.first_word(insert_text)
  return insert_text:match("^%s*[^%s]+") or insert_text
end

local function accept_first_word(item)
  local bufnr = vim.api.nvim_get_current_buf()
  local text = M.first_word(type(item.insert_text) == "string" and item.insert_text or item.insert_text.value)
  local range = item.range
  local row, col
  if range then
    row, col = range.start.row, range.start.col
    vim.api.nvim_buf_set_text(bufnr, row, col, range.end_.row, range.end_.col, { text })
  else
    local cursor = vim.api.nvim_win_get_cursor(0)
    row, col = cursor[1] - 1, cursor[2]
    vim.api.nvim_buf_set_text(bufnr, row, col, row, col, { text })
  end
  vim.api.nvim_win_set_cursor(0, { row + 1, col + #text })
end

function M.set_ghost_text_keymaps(bufnr, overrides)
  local keys = vim.tbl_extend("force", M.default_ghost_text_keymaps, overrides or {})
  local accept = {
    accept = { nil, "precedent: accept the ghost text" },
    accept_word = { accept_first_word, "precedent: accept the first word of the ghost text" },
  }
  for action, key in pairs(keys) do
    if key and accept[action] then
      local on_accept = accept[action][1]
      vim.keymap.set("i", key, function()
        if not vim.lsp.inline_completion.get({ bufnr = bufnr, on_accept = on_accept }) then
          return vim.api.nvim_replace_termcodes(key, true, false, true)
        end
      end, { buffer = bufnr, expr = true, desc = accept[action][2] })
    end
  end
end

return M
