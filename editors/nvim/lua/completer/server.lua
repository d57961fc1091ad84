-- Starting the completer language server and attaching buffers to it, on Neovim 0.7 and newer.
local config = require("completer.config")

local M = {
  client_id = nil,
  last_error = nil,
  -- Set when starting cannot work (command missing): no retry, so no repeated errors.
  blocked = false,
}

local notified = {}

--- Remembers the error for :CompleterStatus / :checkhealth and shows each distinct message once.
function M.report_error(message)
  M.last_error = message
  if not notified[message] then
    notified[message] = true
    vim.schedule(function()
      vim.notify(message, vim.log.levels.WARN)
    end)
  end
end

local REQUEST_CANCELLED = -32800

--- A request's error, reported unless it is a cancellation; true when there was one.
function M.failed(err)
  if err and err.code ~= REQUEST_CANCELLED then
    M.report_error("completer: " .. tostring(err.message))
  end
  return err ~= nil
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  return caps
end

local function lsp_config()
  local settings = config.server_settings()
  return {
    name = "completer",
    cmd = config.options.cmd,
    root_dir = vim.loop.cwd(),
    init_options = settings,
    settings = { completer = settings },
    capabilities = capabilities(),
    handlers = {
      ["completer/draft"] = function(_, draft)
        require("completer.suggest").on_draft(draft)
      end,
    },
    on_init = function(client, result)
      if not result.capabilities.inlineCompletionProvider then
        M.report_error("completer: the server does not offer inline completions (is cmd the completer server?)")
      end
      if config.use_native() then
        require("completer.native").wrap(client)
      else
        vim.schedule(require("completer.suggest").on_server_ready) -- after the buffers' didOpen
      end
    end,
    on_exit = function(code, signal, client_id)
      if client_id == M.client_id then
        M.client_id = nil
      end
      if code ~= 0 then
        M.report_error(("completer: server exited with code %d (signal %d); log: %s"):format(
          code, signal, vim.lsp.get_log_path()))
      end
    end,
  }
end

--- Calls a client method: a method (client:name()) on 0.11+, a plain function field before.
function M.call(client, name, ...)
  if vim.fn.has("nvim-0.11") == 1 then
    return client[name](client, ...)
  end
  return client[name](...)
end

function M.client()
  return M.client_id and vim.lsp.get_client_by_id(M.client_id) or nil
end

--- Starts the server if needed and attaches the buffer. Returns the client id or nil.
function M.attach(bufnr)
  if M.blocked then
    return nil
  end
  local cmd = config.options.cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    M.blocked = true
    M.report_error(("completer: server command %q not found; set cmd in require(\"completer\").setup({ cmd = ... })")
      :format(cmd[1]))
    return nil
  end
  if vim.lsp.start then
    M.client_id = vim.lsp.start(lsp_config(), { bufnr = bufnr })
  else
    if not M.client() then
      M.client_id = vim.lsp.start_client(lsp_config())
    end
    if M.client_id then
      vim.lsp.buf_attach_client(bufnr, M.client_id)
    end
  end
  return M.client_id
end

--- Tells a running server about changed options (model, max_tokens, threshold, filetypes).
function M.send_settings()
  local client = M.client()
  if client then
    M.call(client, "notify", "workspace/didChangeConfiguration", { settings = { completer = config.server_settings() } })
  end
end

--- Forgets a failed start so the next attach tries again (after the user fixed cmd).
function M.unblock()
  M.blocked = false
  M.last_error = nil
  notified = {}
end

return M
