-- Drives a headless Neovim through the precedent plugin against the real `precedent serve`
-- (see tests/test_nvim.py). Run as
--   nvim --headless --clean -n -i NONE -u init.lua -c "luafile tests/nvim_driver.lua"
-- where init.lua put editors/nvim on 'runtimepath' and called require("precedent").setup().
-- $PRECEDENT_NVIM_TEST names a JSON scenario; the observations are written as JSON to its
-- "out" path. Every wait has a deadline, so a hang ends the run with an error in the output.
local scenario = vim.json.decode(assert(io.open(os.getenv("PRECEDENT_NVIM_TEST"))):read("*a"))
local out = { steps = {}, publishes = {} }
local T = scenario.timeout_ms or 60000

local function step(name)
  table.insert(out.steps, name)
end

local function write_out()
  local f = assert(io.open(scenario.out, "w"))
  f:write(vim.json.encode(out))
  f:close()
end

local function wait(what, ms, cond)
  if not vim.wait(ms, cond, 20) then
    error(("timed out after %d ms waiting for %s"):format(ms, what), 2)
  end
end

-- A menu would wait for a key press forever: record it and cancel instead.
vim.ui.select = function(items, opts, on_choice)
  out.ui_select = out.ui_select or {}
  local shown = {}
  for _, item in ipairs(items) do
    table.insert(shown, (opts and opts.format_item) and opts.format_item(item) or tostring(item))
  end
  table.insert(out.ui_select, { prompt = opts and opts.prompt, items = shown })
  on_choice(nil, nil)
end

-- Every textDocument/publishDiagnostics the server sends, raw, in order.
local publish = vim.lsp.handlers["textDocument/publishDiagnostics"]
vim.lsp.handlers["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
  table.insert(out.publishes, {
    uri = result.uri,
    version = result.version,
    diagnostics = result.diagnostics,
    after_step = out.steps[#out.steps],
  })
  return publish(err, result, ctx, config)
end

local function request(bufnr, method, params, ms)
  local responses, err = vim.lsp.buf_request_sync(bufnr, method, params, ms or T)
  if not responses then
    error(("%s: %s"):format(method, tostring(err)), 2)
  end
  local _, response = next(responses)
  if not response then
    error(method .. ": no response from precedent", 2)
  end
  if response.err ~= nil then
    return { error = response.err }
  end
  return { result = response.result == nil and vim.NIL or response.result }
end

local function publishes_for(uri, from)
  local list = {}
  for i = from or 1, #out.publishes do
    if out.publishes[i].uri == uri then
      table.insert(list, out.publishes[i])
    end
  end
  return list
end

local function find_diagnostic(uri, word, from, line)
  local pubs = publishes_for(uri, from)
  local last = pubs[#pubs]
  for _, d in ipairs(last and last.diagnostics or {}) do
    if type(d.data) == "table" and d.data.word == word and (line == nil or d.range.start.line == line) then
      return d
    end
  end
end

local function attach(path)
  vim.cmd.edit(vim.fn.fnameescape(path))
  local bufnr = vim.api.nvim_get_current_buf()
  local client
  wait("the precedent client to attach to " .. path, T, function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = "precedent" })[1]
    return client ~= nil and client.initialized == true
  end)
  return bufnr, client
end

local function text_document(bufnr)
  return { uri = vim.uri_from_bufnr(bufnr) }
end

local function run()
  local precedent = require("precedent")

  step("open")
  local bufnr, client = attach(scenario.doc)
  local uri = vim.uri_from_bufnr(bufnr)
  local caps = client.server_capabilities or {}
  out.client = {
    name = client.name,
    root_dir = client.root_dir,
    filetype = vim.bo[bufnr].filetype,
    language_id = client.get_language_id(bufnr, vim.bo[bufnr].filetype),
    server_info = client.server_info,
    offset_encoding = client.offset_encoding,
    init_options = client.config.init_options,
    settings = client.settings,
    capabilities = {
      completion = caps.completionProvider,
      hover = caps.hoverProvider,
      code_action = caps.codeActionProvider,
      execute_command = caps.executeCommandProvider,
      text_document_sync = caps.textDocumentSync,
    },
  }
  out.buffer = {
    omnifunc = vim.bo[bufnr].omnifunc,
    keymaps = {},
    commands = {
      PrecedentStatus = vim.fn.exists(":PrecedentStatus") == 2,
      PrecedentReindex = vim.fn.exists(":PrecedentReindex") == 2,
    },
  }
  for _, lhs in ipairs({ "<leader>pe", "<leader>pa", "<leader>pr", "<leader>ps" }) do
    local m = vim.fn.maparg(lhs, "n", false, true)
    out.buffer.keymaps[lhs] = { buffer = m.buffer == 1, desc = m.desc }
  end

  step("ready")
  -- The model and the index load in the background: poll precedent/status until both are in.
  local status, status_err
  local deadline = vim.uv.now() + T
  while true do
    status, status_err = precedent.status_sync(bufnr, 5000)
    if
      type(status) == "table"
      and status.model ~= nil
      and status.model ~= vim.NIL
      and type(status.indexes) == "table"
      and #status.indexes >= #(scenario.settings.indexPaths or {})
      and status.indexing ~= true
    then
      break
    end
    -- An error answer (not a timeout) will not go away by asking again. Either way the
    -- other steps go on (they wait for what they need): only the status tests fail.
    local answered_error = status == nil and status_err and not status_err:find("timeout") and not status_err:find("not running")
    if answered_error or vim.uv.now() > deadline then
      out.status_error = answered_error and status_err
        or ("precedent/status did not report the model and the index within %d ms (last: %s)"):format(
          T,
          status and vim.json.encode(status) or tostring(status_err)
        )
      break
    end
    vim.wait(200)
  end
  out.status = status
  out.status_text = vim.api.nvim_exec2("PrecedentStatus", { output = true }).output

  step("diagnostics")
  local hint = scenario.hint
  local ok_hint = vim.wait(T, function()
    return find_diagnostic(uri, hint.word, nil, hint.line) ~= nil
  end, 50)
  out.hint_found = ok_hint
  -- Quiet period: later publishes (if any) are recorded too.
  vim.wait(500)

  step("hover")
  out.hover = request(bufnr, "textDocument/hover", { textDocument = text_document(bufnr), position = scenario.hover })

  step("code_action")
  local diag = find_diagnostic(uri, hint.word, nil, hint.line)
  if diag then
    out.code_actions = request(bufnr, "textDocument/codeAction", {
      textDocument = text_document(bufnr),
      range = diag.range,
      context = { diagnostics = { diag }, triggerKind = 1 },
    })
    -- What <leader>pa does, with the preferred quick fix chosen: Neovim applies its edit.
    local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
    local pubs_before = #out.publishes
    vim.api.nvim_win_set_cursor(0, { diag.range.start.line + 1, diag.range.start.character })
    -- The line has other hints too: keep the preferred action of this hint only.
    vim.lsp.buf.code_action({
      apply = true,
      filter = function(action)
        local d = action.diagnostics and action.diagnostics[1]
        return action.isPreferred == true and d ~= nil and type(d.data) == "table" and d.data.word == hint.word
      end,
    })
    local changed = vim.wait(T, function()
      return not vim.deep_equal(before, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
    end, 20)
    out.applied = { changed = changed, lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false) }
    step("after_fix")
    -- The server re-checks the edited document; the fixed hint must go away.
    out.hint_gone = vim.wait(T, function()
      local pubs = publishes_for(uri, pubs_before + 1)
      return #pubs > 0 and find_diagnostic(uri, hint.word, pubs_before + 1, hint.line) == nil
    end, 50)
  end

  step("completion")
  -- Type a new paragraph as a writer would (each change ends at the cursor), and ask for
  -- the next word after a space, then in the middle of a word.
  out.completion = {}
  local line
  for _, case in ipairs(scenario.completions) do
    if case.new_paragraph then
      local last = vim.api.nvim_buf_line_count(bufnr)
      vim.api.nvim_buf_set_lines(bufnr, last, last, false, { "", "" })
      line = last + 1
    end
    local col = #vim.api.nvim_buf_get_lines(bufnr, line, line + 1, false)[1]
    vim.api.nvim_buf_set_text(bufnr, line, col, line, col, { case.type })
    local text = vim.api.nvim_buf_get_lines(bufnr, line, line + 1, false)[1]
    local position = { line = line, character = #text }
    vim.api.nvim_win_set_cursor(0, { line + 1, #text })
    local response = request(bufnr, "textDocument/completion", {
      textDocument = text_document(bufnr),
      position = position,
      context = { triggerKind = case.trigger and 2 or 1, triggerCharacter = case.trigger },
    })
    table.insert(out.completion, { line = text, position = position, response = response })
  end
  -- Give the server time to publish for the typed text ("never on the word being typed").
  vim.wait(1500)
  out.final_lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)

  step("ignore")
  -- "Ignore 'w' here" on another hint: Neovim runs the action's command on the server
  -- (workspace/executeCommand), which drops that hint.
  local ignore = scenario.ignore
  local target
  for _, d in ipairs((publishes_for(uri)[#publishes_for(uri)] or {}).diagnostics or {}) do
    if d.data and d.data.word == ignore.word and d.range.start.line == ignore.line then
      target = d
    end
  end
  if target then
    out.ignore = { diagnostic = target }
    local actions = request(bufnr, "textDocument/codeAction", {
      textDocument = text_document(bufnr),
      range = target.range,
      context = { diagnostics = { target }, triggerKind = 1 },
    })
    local chosen
    for _, a in ipairs(actions.result ~= vim.NIL and actions.result or {}) do
      if a.command and a.command.command == "precedent.ignoreHere" then
        chosen = a
      end
    end
    out.ignore.action = chosen
    if chosen then
      local pubs_before = #out.publishes
      local done
      client:exec_cmd(chosen.command, { bufnr = bufnr }, function(err, result)
        done = { err = err, result = result == nil and vim.NIL or result }
      end)
      vim.wait(T, function()
        return done ~= nil
      end, 20)
      out.ignore.response = done
      out.ignore.gone = vim.wait(T, function()
        for _, p in ipairs(publishes_for(uri, pubs_before + 1)) do
          local still = false
          for _, d in ipairs(p.diagnostics) do
            still = still or (d.data and d.data.word == ignore.word and d.range.start.line == ignore.line)
          end
          if not still then
            return true
          end
        end
        return false
      end, 50)
    end
  end

  step("settings")
  -- New settings at run time (workspace/didChangeConfiguration): hints off, so the
  -- document's hints go away.
  local pubs_before = #out.publishes
  precedent.update_settings({ hints = { enabled = false } })
  out.hints_off = vim.wait(T, function()
    local pubs = publishes_for(uri, pubs_before + 1)
    return #pubs > 0 and #pubs[#pubs].diagnostics == 0
  end, 50)

  step("reindex")
  out.reindex = request(bufnr, "workspace/executeCommand", { command = "precedent.reindex", arguments = {} })

  if scenario.text_doc then
    step("text_buffer")
    local tbuf, tclient = attach(scenario.text_doc)
    local lines = vim.api.nvim_buf_get_lines(tbuf, 0, -1, false)
    local position = { line = #lines - 1, character = #lines[#lines] }
    out.text_buffer = {
      same_client = tclient.id == client.id,
      filetype = vim.bo[tbuf].filetype,
      language_id = tclient.get_language_id(tbuf, vim.bo[tbuf].filetype),
      position = position,
      completion = request(tbuf, "textDocument/completion", { textDocument = text_document(tbuf), position = position }),
    }
  end

  step("checkhealth")
  vim.cmd("checkhealth precedent")
  out.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  step("done")
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  out.error = tostring(err)
end
out.log = vim.lsp.get_log_path()
write_out()
vim.cmd(ok and "qa!" or "cq! 1")
