-- Types into a headless Neovim 0.12 with the precedent plugin's ghost text on (see
-- tests/test_nvim_ghost.py), key by key through Neovim's own input, and records the ghost
-- text vim.lsp.inline_completion shows, and the line after each accept key. Run like
-- tests/nvim_driver.lua; the scenario's "typed" text goes on a new last line.
local scenario = vim.json.decode(assert(io.open(os.getenv("PRECEDENT_NVIM_TEST"))):read("*a"))
local out = { steps = {} }
local T = scenario.timeout_ms or 60000
local co

-- Waits until cond() holds, yielding to Neovim's main loop (which reads the typed keys and
-- runs the client's timers and callbacks) between checks.
local function wait(what, ms, cond)
  local deadline = vim.uv.now() + ms
  while not cond() do
    if vim.uv.now() > deadline then
      error(("timed out after %d ms waiting for %s"):format(ms, what), 2)
    end
    vim.defer_fn(function()
      assert(coroutine.resume(co))
    end, 20)
    coroutine.yield()
  end
end

local function type_keys(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "t", false)
  wait("the keys to be read", 2000, function()
    return vim.fn.getchar(1) == 0
  end)
end

co = coroutine.create(function()
  local ok, err = pcall(function()
    vim.cmd.edit(scenario.doc)
    local bufnr = vim.api.nvim_get_current_buf()
    local function client()
      return vim.lsp.get_clients({ bufnr = bufnr, name = "precedent" })[1]
    end
    wait("the precedent client", T, function()
      return client() ~= nil
    end)
    out.inline_completion_provider = client().server_capabilities.inlineCompletionProvider
    local ns = vim.api.nvim_create_namespace("nvim.lsp.inline_completion")
    local function ghost()
      local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
      if #marks == 0 then
        return nil
      end
      local text = {}
      for _, chunk in ipairs(marks[1][4].virt_text or {}) do
        table.insert(text, chunk[1])
      end
      return table.concat(text)
    end
    table.insert(out.steps, "type")
    type_keys("Go")
    for char in scenario.typed:gmatch(".") do
      type_keys(char)
    end
    for _, accept in ipairs(scenario.accepts) do
      table.insert(out.steps, accept.key)
      wait("ghost text", T, function()
        return ghost() ~= nil
      end)
      local before = vim.api.nvim_get_current_line()
      local shown = ghost()
      type_keys(accept.key)
      wait("the accepted text", 5000, function()
        return vim.api.nvim_get_current_line() ~= before
      end)
      out[accept.key] = { ghost = shown, before = before, after = vim.api.nvim_get_current_line() }
      if accept.then_type then
        type_keys(accept.then_type)
      end
    end
    out.mode = vim.api.nvim_get_mode().mode
    out.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, true)
  end)
  out.error = not ok and tostring(err) or nil
  local f = assert(io.open(scenario.out, "w"))
  f:write(vim.json.encode(out))
  f:close()
  vim.cmd("qa!")
end)
assert(coroutine.resume(co))
