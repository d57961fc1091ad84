-- Edits beyond the cursor: the server's next edit (after leaving insert mode, or :CompleterNextEdit) and
-- the rewrite of a selection (:CompleterRewrite, or the "Rewrite selection" code action), drawn with
-- extmarks: the old text in CompleterEditOld, the lines as they would read in CompleterEditNew virtual
-- lines below. Tab applies the edit, Esc dismisses it; any change to the buffer dismisses it too.
local config = require("completer.config")
local server = require("completer.server")

local M = {
  -- The edit on screen: { bufnr, changedtick, edits (LSP TextEdits), encoding }.
  current = nil,
}

M.namespace = vim.api.nvim_create_namespace("completer-edit")
local REWRITE = "completer.rewrite"
local timer = vim.loop.new_timer()

function M.define_highlights()
  vim.cmd("highlight default CompleterEditOld ctermfg=1 guifg=#d05050 cterm=strikethrough gui=strikethrough")
  vim.cmd("highlight default CompleterEditNew ctermfg=2 guifg=#50a050")
end

M.define_highlights()

local function byte_col(bufnr, position, encoding)
  return vim.lsp.util._get_line_byte_from_position(bufnr, position, encoding)
end

local function unmap(bufnr)
  for _, key in ipairs({ "<Tab>", "<Esc>" }) do
    pcall(vim.keymap.del, "n", key, { buffer = bufnr })
  end
end

function M.dismiss()
  timer:stop()
  local current = M.current
  M.current = nil
  if current and vim.api.nvim_buf_is_valid(current.bufnr) then
    vim.api.nvim_buf_clear_namespace(current.bufnr, M.namespace, 0, -1)
    unmap(current.bufnr)
  end
end

function M.visible()
  return M.current ~= nil and M.current.bufnr == vim.api.nvim_get_current_buf()
end

--- The lines first_row..last_row as they read after `edits` (byte offsets within those lines).
local function edited_lines(bufnr, first_row, last_row, spans)
  local lines = vim.api.nvim_buf_get_lines(bufnr, first_row, last_row + 1, true)
  local starts, at = {}, 0
  for i, line in ipairs(lines) do
    starts[first_row + i - 1] = at
    at = at + #line + 1
  end
  local text = table.concat(lines, "\n")
  table.sort(spans, function(a, b) return a.start_row > b.start_row or (a.start_row == b.start_row and a.start_col > b.start_col) end)
  for _, s in ipairs(spans) do
    local from, to = starts[s.start_row] + s.start_col, starts[s.end_row] + s.end_col
    text = text:sub(1, from) .. s.text .. text:sub(to + 1)
  end
  return vim.split(text, "\n", { plain = true })
end

--- Draws `edits` (LSP TextEdits in `encoding`) in `bufnr` and maps Tab and Esc while they show.
function M.show(bufnr, edits, encoding)
  M.dismiss()
  if #edits == 0 then
    return
  end
  local spans, first_row, last_row = {}, math.huge, -1
  for _, edit in ipairs(edits) do
    local s, e = edit.range.start, edit.range["end"]
    local span = { start_row = s.line, start_col = byte_col(bufnr, s, encoding), end_row = e.line,
                   end_col = byte_col(bufnr, e, encoding), text = edit.newText }
    spans[#spans + 1] = span
    first_row, last_row = math.min(first_row, s.line), math.max(last_row, e.line)
    if span.end_row > span.start_row or span.end_col > span.start_col then
      vim.api.nvim_buf_set_extmark(bufnr, M.namespace, span.start_row, span.start_col,
        { end_row = span.end_row, end_col = span.end_col, hl_group = "CompleterEditOld" })
    end
  end
  local below = {}
  for _, line in ipairs(edited_lines(bufnr, first_row, last_row, spans)) do
    below[#below + 1] = { { line, "CompleterEditNew" } }
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.namespace, last_row, 0, { virt_lines = below })
  M.current = { bufnr = bufnr, changedtick = vim.api.nvim_buf_get_changedtick(bufnr), edits = edits, encoding = encoding }
  vim.keymap.set("n", "<Tab>", M.accept, { buffer = bufnr, silent = true, desc = "completer: apply the edit" })
  vim.keymap.set("n", "<Esc>", M.dismiss, { buffer = bufnr, silent = true, desc = "completer: dismiss the edit" })
end

function M.accept()
  local current = M.current
  if not current then
    return
  end
  M.dismiss()
  if vim.api.nvim_buf_get_changedtick(current.bufnr) == current.changedtick then
    vim.lsp.util.apply_text_edits(current.edits, current.bufnr, current.encoding)
  end
end

--- An {edits, version} reply: shown when the buffer is as it was asked about and nobody is typing in it.
local function on_reply(bufnr, changedtick, encoding, invoked)
  return function(err, result)
    if server.failed(err) then
      return
    end
    local still = vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_buf_get_changedtick(bufnr) == changedtick
      and vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_get_mode().mode:sub(1, 1) ~= "i"
    if not still or type(result) ~= "table" then
      return
    end
    local edits = {}
    for _, edit in ipairs(result.edits or {}) do
      edits[#edits + 1] = { range = edit.range, newText = edit.text }
    end
    if #edits == 0 and invoked then
      vim.api.nvim_echo({ { "completer: no edit to suggest here", "Comment" } }, true, {})
    end
    M.show(bufnr, edits, encoding)
  end
end

local function ready_client(bufnr)
  local client = server.client()
  if client and client.initialized and vim.lsp.buf_is_attached(bufnr, client.id) then
    return client
  end
end

--- Ask the server for the next edit at the cursor; `invoked` says so when there is none.
function M.request(invoked)
  timer:stop()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = ready_client(bufnr)
  if not client then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local changedtick = vim.api.nvim_buf_get_changedtick(bufnr)
  server.call(client, "request", "completer/nextEdit", params, on_reply(bufnr, changedtick, client.offset_encoding, invoked), bufnr)
end

--- Run the rewrite command with its arguments ({uri, range}) and preview what comes back.
function M.execute_rewrite(arguments, bufnr)
  local client = ready_client(bufnr)
  if not client then
    return
  end
  local changedtick = vim.api.nvim_buf_get_changedtick(bufnr)
  server.call(client, "request", "workspace/executeCommand", { command = REWRITE, arguments = arguments },
    on_reply(bufnr, changedtick, client.offset_encoding, true), bufnr)
end

--- :CompleterRewrite on a range of lines or the last visual selection.
function M.rewrite(line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = ready_client(bufnr)
  if not client then
    return
  end
  local first, last = vim.api.nvim_buf_get_mark(bufnr, "<"), vim.api.nvim_buf_get_mark(bufnr, ">")
  if first[1] ~= line1 or last[1] ~= line2 then -- a line range, not the visual selection: whole lines
    first, last = { line1, 0 }, { line2, #vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, true)[1] }
  end
  local range = vim.lsp.util.make_given_range_params(first, last, bufnr, client.offset_encoding).range
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<Esc>", true, false, true), "n", false)
  M.execute_rewrite({ { uri = vim.uri_from_bufnr(bufnr), range = range } }, bufnr)
end

--- Leaving insert mode or changing text in normal mode: dismiss, then ask after the debounce.
function M.on_changed()
  M.dismiss()
  if config.options.enabled and config.options.next_edits then
    timer:start(config.options.next_edit_debounce_ms, 0, vim.schedule_wrap(function()
      M.request(false)
    end))
  end
end

--- The code action's command runs here, so its result is previewed instead of applied unseen.
function M.register_command()
  vim.lsp.commands[REWRITE] = function(command, ctx)
    M.execute_rewrite(command.arguments, ctx.bufnr or vim.api.nvim_get_current_buf())
  end
end

return M
