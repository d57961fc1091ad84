-- Neovim 0.12's own inline completion (vim.lsp.inline_completion), with what it lacks: the trigger
-- and dismiss keys, word and line accepts, drafts, and the latency and empty results that
-- :CompleterStatus shows. It draws every item that has a range as an overlay, which would paint
-- over the text right of the cursor, so zero-width ranges (plain insertions) are dropped first.
local suggest = require("completer.suggest")

local M = {}

local INVOKED = 1
local METHOD = "textDocument/inlineCompletion"

--- The buffer's inline-completion state. Neovim keeps it in vim.lsp._capability, an internal
--- module (the tests pin it on 0.12-dev); nil when that changes, and the keys fall back to their defaults.
local function completor(bufnr)
  local ok, capability = pcall(require, "vim.lsp._capability")
  local class = ok and type(capability.all) == "table" and capability.all.inline_completion or nil
  return class and class.active and class.active[bufnr or vim.api.nvim_get_current_buf()] or nil
end

function M.visible()
  local c = completor()
  return c ~= nil and c.current ~= nil
end

--- Ask now (the trigger key), as an invoked request.
function M.trigger()
  local c = completor()
  if c and c.request then
    c:request(INVOKED)
  end
end

function M.dismiss()
  local c = completor()
  if c and c.abort then
    c:abort()
  end
  suggest.stop_drafts()
end

--- Accepts the part of the shown item that `pick` (suggest.next_word or next_line) returns.
local function accept_part(pick)
  return vim.lsp.inline_completion.get({
    on_accept = function(item)
      local text = type(item.insert_text) == "string" and item.insert_text or item.insert_text.value
      local row, col = unpack(vim.api.nvim_win_get_cursor(0))
      if item.range then -- skip what is already typed between the range's start and the cursor
        text = text:sub(col - item.range.start.col + 1)
      end
      local lines = vim.split(pick(text), "\n", { plain = true })
      vim.api.nvim_buf_set_text(0, row - 1, col, row - 1, col, lines)
      vim.api.nvim_win_set_cursor(0, { row + #lines - 1, (#lines == 1 and col or 0) + #lines[#lines] })
    end,
  })
end

function M.accept_word()
  return accept_part(suggest.next_word)
end

function M.accept_line()
  return accept_part(suggest.next_line)
end

--- 0.12-dev draws with hl_mode "combine", so next to a bracket the ghost text takes on MatchParen's
--- look instead of its own colour: redraw Neovim's extmark with "replace", like the plugin's own ghost text.
local function restyle(bufnr)
  local namespace = vim.api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  if not namespace or not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, namespace, 0, -1, { details = true })) do
    local id, row, col, details = unpack(mark)
    if details.hl_mode ~= "replace" then
      vim.api.nvim_buf_set_extmark(bufnr, namespace, row, col, {
        id = id, virt_text = details.virt_text, virt_lines = details.virt_lines,
        virt_text_pos = details.virt_text_pos, hl_mode = "replace",
      })
    end
  end
end

local function zero_width(range)
  return range and range.start.line == range["end"].line and range.start.character == range["end"].character
end

--- Wraps the client's request method so inline-completion answers pass through here first.
function M.wrap(client)
  local request = client.request
  client.request = function(self, method, params, handler, bufnr)
    if method ~= METHOD or type(handler) ~= "function" then
      return request(self, method, params, handler, bufnr)
    end
    local started = vim.loop.hrtime()
    local trigger_kind = params.context and params.context.triggerKind
    local asked_for = vim.uri_to_bufnr(params.textDocument.uri) -- not the current buffer: the ask is debounced
    local drafts = asked_for == vim.api.nvim_get_current_buf() and suggest.expect_drafts(asked_for, params.position) or nil
    return request(self, method, params, function(err, result, ctx, config)
      if drafts then
        suggest.stop_drafts(drafts)
      end
      if vim.fn.bufwinid(asked_for) == -1 then
        return -- the buffer left its window meanwhile: 0.12-dev's handler would fail on the missing window
      end
      if not err then
        local items = suggest.items(result)
        for _, item in ipairs(items) do
          if zero_width(item.range) then
            item.range = nil
          end
        end
        suggest.record_result((vim.loop.hrtime() - started) / 1e6, #items == 0, trigger_kind)
      end
      handler(err, result, ctx, config)
      restyle(asked_for)
    end, bufnr)
  end
end

--- Right after the server is ready, ask for the keystrokes typed while it started.
function M.on_attach(bufnr)
  -- Neovim makes the buffer's completor in a callback it schedules right after LspAttach: go after it
  vim.schedule(function()
    vim.schedule(function()
      local c = completor(bufnr)
      if c and c.automatic_request and suggest.typing_in(bufnr) then
        c:automatic_request()
      end
    end)
  end)
end

return M
