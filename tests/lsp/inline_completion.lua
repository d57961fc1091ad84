-- Headless Neovim as a real LSP client: start the server, open a Python buffer,
-- ask for textDocument/inlineCompletion, write what came back as JSON to $RESULT_FILE.
local function finish(report)
  local file = io.open(vim.env.RESULT_FILE, "w")
  file:write(vim.fn.json_encode(report))
  file:close()
  vim.cmd("qall!")
end

local ready = false
local capabilities = vim.lsp.protocol.make_client_capabilities()
capabilities.textDocument.inlineCompletion = { dynamicRegistration = false }
local client_id = vim.lsp.start_client({
  name = "completer",
  cmd = { vim.env.PYTHON, "-m", "lsp", "--stdio" },
  root_dir = vim.fn.getcwd(),
  capabilities = capabilities,
  init_options = { model = vim.env.MODEL, maxTokens = 8 },
  on_init = function() ready = true end,
})
if not vim.wait(60000, function() return ready end, 50) then
  finish({ error = "server did not initialize" })
  return
end

vim.cmd("edit " .. vim.env.DOCUMENT)
local bufnr = vim.api.nvim_get_current_buf()
vim.lsp.buf_attach_client(bufnr, client_id)
local client = vim.lsp.get_client_by_id(client_id)
local params = {
  textDocument = { uri = vim.uri_from_bufnr(bufnr) },
  position = { line = 0, character = 6 },
  context = { triggerKind = 1 },
}
local response, err = client.request_sync("textDocument/inlineCompletion", params, 120000, bufnr)
finish({
  capability = client.server_capabilities.inlineCompletionProvider ~= nil,
  response = response,
  error = err,
})
