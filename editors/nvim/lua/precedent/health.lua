-- :checkhealth precedent
local M = {}

local health = vim.health

local function current_config()
  local precedent = require("precedent")
  if vim.fn.has("nvim-0.11") == 1 then
    local ok, config = pcall(function()
      return vim.lsp.config[precedent.name]
    end)
    if ok and config then
      return config
    end
  end
  return precedent.lsp_config(precedent.options)
end

local function run(argv, timeout_ms)
  local ok, obj = pcall(function()
    return vim.system(argv, { text = true }):wait(timeout_ms)
  end)
  if not ok then
    return { code = -1, stdout = "", stderr = tostring(obj) }
  end
  return obj
end

local function trim(s)
  return (s or ""):gsub("%s+$", "")
end

-- The part of `cmd` before the subcommand "serve": the binary and its global options
-- (--model DIR, --threads N, -v), reused for `precedent doctor`.
local function base_argv(cmd)
  local argv = {}
  for _, arg in ipairs(cmd) do
    if arg == "serve" then
      break
    end
    table.insert(argv, arg)
  end
  return argv
end

local function check_neovim()
  health.start("precedent: Neovim")
  local v = vim.version()
  local version = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok("Neovim " .. version .. " (vim.lsp.config / vim.lsp.enable)")
  elseif vim.fn.has("nvim-0.10") == 1 then
    health.warn("Neovim " .. version .. ": supported through setup()'s FileType fallback; 0.11 is recommended")
  else
    health.error("Neovim " .. version .. " is too old", { "precedent needs Neovim 0.10 or newer (0.11 recommended)" })
  end
end

local function check_config(config)
  local precedent = require("precedent")
  health.start("precedent: configuration")
  if precedent.did_setup then
    health.ok("require('precedent').setup() was called")
  elseif vim.fn.has("nvim-0.11") == 1 and vim.lsp.is_enabled and vim.lsp.is_enabled(precedent.name) then
    health.ok("enabled with vim.lsp.enable('precedent') (lsp/precedent.lua)")
  else
    health.warn("precedent is not enabled", { "call require('precedent').setup() or vim.lsp.enable('precedent')" })
  end
  if type(config.cmd) == "table" then
    health.info("cmd: " .. table.concat(config.cmd, " "))
  end
  local ids = {}
  for _, ft in ipairs(config.filetypes or {}) do
    local id = config.get_language_id and config.get_language_id(0, ft) or ft
    table.insert(ids, id == ft and ft or (ft .. " -> " .. id))
  end
  health.info("filetypes (-> languageId): " .. table.concat(ids, ", "))
  local settings = config.settings and config.settings.precedent
  if settings and next(settings) then
    health.info("settings: " .. vim.json.encode(settings))
  else
    health.info("settings: none from Neovim (server defaults and precedent.toml apply)")
  end
end

-- Returns the argv prefix for further checks, or nil if the binary is unusable.
local function check_binary(config)
  health.start("precedent: binary")
  if type(config.cmd) ~= "table" or #config.cmd == 0 then
    health.warn("cmd is not a list of strings; skipping the binary checks")
    return nil
  end
  local bin = config.cmd[1]
  local path = vim.fn.exepath(bin)
  if path == "" then
    health.error(("%s not found or not executable"):format(bin), {
      "install it: cargo install --path server/cli (puts `precedent` on PATH)",
      "or set cmd = { '/path/to/precedent', 'serve' } in setup()",
    })
    return nil
  end
  local version = run({ path, "--version" }, 10000)
  if version.code == 0 then
    health.ok(("%s (%s)"):format(trim(version.stdout), path))
  else
    health.error(("%s --version failed (exit %s): %s"):format(path, tostring(version.code), trim(version.stderr)))
    return nil
  end
  local serve = run({ path, "serve", "--help" }, 10000)
  if serve.code == 0 then
    health.ok("`precedent serve` is available")
  else
    health.error("this precedent has no `serve` command (language server)", {
      "update precedent: cargo install --path server/cli",
    })
  end
  local argv = base_argv(config.cmd)
  argv[1] = path
  return argv
end

local function check_doctor(argv, settings)
  health.start("precedent: model and runtime (precedent doctor)")
  local doctor = vim.list_extend(vim.deepcopy(argv), { "doctor" })
  if settings and type(settings.modelPath) == "string" then
    vim.list_extend(doctor, { "--model", vim.fn.expand(settings.modelPath) })
  end
  health.info("running: " .. table.concat(doctor, " "))
  local result = run(doctor, 120000)
  local output = trim(result.stdout)
  local failed = {}
  for line in output:gmatch("[^\n]+") do
    if line:find("FAILED") then
      table.insert(failed, vim.trim(line))
    end
  end
  if output ~= "" then
    health.info("```\n" .. output .. "\n```")
  end
  if result.code == 0 then
    health.ok("ONNX Runtime and the model load")
  else
    for _, line in ipairs(failed) do
      health.error(line)
    end
    health.error(
      ("precedent doctor failed (exit %s)%s"):format(
        tostring(result.code),
        trim(result.stderr) ~= "" and (": " .. trim(result.stderr)) or ""
      ),
      { "run `precedent setup` to install ONNX Runtime and the default model", "or set ORT_DYLIB_PATH / --model" }
    )
  end
end

local function check_indexes(config, settings)
  health.start("precedent: indexes")
  local root = vim.fs.root(0, config.root_markers or { "precedent.toml", ".git" }) or vim.fn.getcwd()
  local toml = vim.fs.joinpath(root, "precedent.toml")
  if vim.fn.filereadable(toml) == 1 then
    health.info("team settings: " .. toml .. " (its indexPaths and corpus are not listed here)")
  end
  local function resolve(p)
    p = vim.fn.expand(p)
    if p:sub(1, 1) ~= "/" and not p:match("^%a:[/\\]") then
      p = vim.fs.joinpath(root, p)
    end
    return vim.fs.normalize(p)
  end
  local any = false
  for _, p in ipairs((settings and settings.indexPaths) or {}) do
    any = true
    local path = resolve(p)
    local stat = vim.uv.fs_stat(path)
    if not stat then
      health.error("index not found: " .. path, { "build it: precedent index DOCS... --out " .. path })
    elseif stat.type == "file" and vim.fn.filereadable(path) == 0 then
      health.error("index not readable: " .. path)
    else
      health.ok(("index %s (%.1f MB)"):format(path, (stat.size or 0) / 1e6))
    end
  end
  for _, p in ipairs((settings and settings.corpus) or {}) do
    any = true
    local path = resolve(p)
    if vim.fn.isdirectory(path) == 1 then
      health.ok("corpus folder " .. path .. " (the server indexes it in the background)")
    else
      health.error("corpus folder not found: " .. path)
    end
  end
  if not any then
    health.warn("no indexPaths or corpus in the Neovim settings", {
      "suggestions come from the language model alone unless precedent.toml names an index",
      "settings = { indexPaths = { 'team.index' } } or { corpus = { 'docs/' } }",
    })
  end
end

local function check_running()
  local precedent = require("precedent")
  health.start("precedent: running server")
  local clients = vim.lsp.get_clients({ name = precedent.name })
  if #clients == 0 then
    health.info("not running now (it starts when a buffer of a configured filetype opens)")
    return
  end
  for _, client in ipairs(clients) do
    local bufnr = next(client.attached_buffers) or 0
    local status, err = precedent.status_sync(bufnr, 5000)
    if not status then
      health.warn(("client %d: %s"):format(client.id, err))
    else
      local lines = precedent.format_status(status)
      if status.modelError ~= nil and status.modelError ~= vim.NIL then
        health.error(("client %d: %s"):format(client.id, table.concat(lines, "\n")))
      else
        health.ok(("client %d (root %s):\n%s"):format(client.id, tostring(client.root_dir), table.concat(lines, "\n")))
      end
    end
  end
end

function M.check()
  check_neovim()
  local config = current_config()
  check_config(config)
  local settings = config.settings and config.settings.precedent or {}
  local argv = check_binary(config)
  if argv then
    check_doctor(argv, settings)
  end
  check_indexes(config, settings)
  check_running()
end

return M
