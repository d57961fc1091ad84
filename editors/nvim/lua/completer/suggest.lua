-- The plugin's own inline completion (Neovim before 0.12): ask while typing, show, accept.
local arena = require("completer.arena")
local config = require("completer.config")
local ghost = require("completer.ghost")
local server = require("completer.server")

local M = {
  -- The suggestion on screen: { bufnr, row, col, text (still to insert), replace_end, changedtick, command (run
  -- once it is all in), alternative (arena mode's second suggestion: { text, replace_end, command }) }.
  current = nil,
  last_latency_ms = nil,
  -- "suggestion" or "empty": what the last request that ran came back with.
  last_result = nil,
}

local INVOKED, AUTOMATIC = 1, 2

local timer = vim.loop.new_timer()
-- The request in flight: { client, id }.
local pending = nil
-- A keystroke came before the server could answer: { bufnr, changedtick, trigger_kind }.
local waiting = nil
-- Where drafts of the request in flight (on either path) may show: { bufnr, row, col, changedtick, position }.
local draft_target = nil

local function cursor()
  local position = vim.api.nvim_win_get_cursor(0)
  return position[1] - 1, position[2]
end

local function cancel_pending()
  if pending then
    server.call(pending.client, "cancel_request", pending.id)
    pending = nil
  end
end

local function clear_shown()
  if M.current then
    ghost.clear(M.current.bufnr)
    M.current = nil
  end
end

function M.dismiss()
  timer:stop()
  cancel_pending()
  draft_target = nil
  clear_shown()
end

--- A suggestion the keys act on is on screen (a draft is only a preview of one).
function M.visible()
  return M.current ~= nil and not M.current.draft and M.current.bufnr == vim.api.nvim_get_current_buf()
end

local function show(bufnr, row, col, text, replace_end, command, alternative)
  M.current = {
    bufnr = bufnr, row = row, col = col, text = text, replace_end = replace_end,
    changedtick = vim.api.nvim_buf_get_changedtick(bufnr), command = command, alternative = alternative,
  }
  ghost.show(bufnr, row, col, text, nil, nil, alternative and { text = alternative.text, key = config.options.keymaps.arena_second })
end

--- The part of an InlineCompletionItem still to type at the cursor, and where its range ends
--- on the cursor line; nil when the item does not continue what is already typed.
local function fit(item, bufnr, row, col, encoding)
  local text = item.insertText
  if type(text) ~= "string" then
    return nil
  end
  local start_col, end_col = col, col
  if item.range then
    local first, last = item.range.start, item.range["end"]
    if first.line ~= row or last.line ~= row then
      return nil
    end
    start_col = vim.lsp.util._get_line_byte_from_position(bufnr, first, encoding)
    end_col = vim.lsp.util._get_line_byte_from_position(bufnr, last, encoding)
    if start_col > col or end_col < col then
      return nil
    end
  end
  local typed = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]:sub(start_col + 1, col)
  if text:sub(1, #typed) ~= typed or #text == #typed then
    return nil
  end
  return text:sub(#typed + 1), end_col
end

--- True while `bufnr` is the current buffer and Neovim is in insert mode: someone is typing there.
function M.typing_in(bufnr)
  return vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_get_mode().mode:sub(1, 1) == "i"
end

--- True while the cursor, the buffer's text and insert mode are as they were at (bufnr, row, col, changedtick).
local function still_at(bufnr, row, col, changedtick)
  local now_row, now_col = cursor()
  return M.typing_in(bufnr) and now_row == row and now_col == col and vim.api.nvim_buf_get_changedtick(bufnr) == changedtick
end

--- The items of an inlineCompletion result (a list, a list object, or null).
function M.items(result)
  return (result ~= nil and result ~= vim.NIL) and (result.items or result) or {}
end

--- What the last request came back with, for :CompleterStatus; an invoked one that found nothing says so.
function M.record_result(latency_ms, empty, trigger_kind)
  M.last_latency_ms = latency_ms
  M.last_result = empty and "empty" or "suggestion"
  if empty and trigger_kind == INVOKED then
    vim.api.nvim_echo({ { "completer: no suggestion here", "Comment" } }, true, {})
  end
end

local function request(trigger_kind)
  cancel_pending()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = server.client()
  if not client or not client.initialized or not vim.lsp.buf_is_attached(bufnr, client.id) then
    -- before initialization the server has not seen the document yet: ask once it has
    waiting = { bufnr = bufnr, changedtick = vim.api.nvim_buf_get_changedtick(bufnr), trigger_kind = trigger_kind }
    return
  end
  waiting = nil
  local row, col = cursor()
  local changedtick = vim.api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = trigger_kind }
  local started = vim.loop.hrtime()
  local id
  local function on_result(err, result)
    if pending and pending.id == id then
      pending = nil
      M.stop_drafts()
    end
    if server.failed(err) then
      return
    end
    local items = M.items(result)
    M.record_result((vim.loop.hrtime() - started) / 1e6, #items == 0, trigger_kind)
    if not still_at(bufnr, row, col, changedtick) then
      return
    end
    local fitting = {}
    for _, item in ipairs(items) do
      local text, replace_end = fit(item, bufnr, row, col, client.offset_encoding)
      if text then
        fitting[#fitting + 1] = { text = text, replace_end = replace_end, command = item.command }
      end
    end
    local first, second = fitting[1], fitting[2]
    if second and not second.command then
      second = nil -- only arena mode's items (each with its vote) show two at once
    end
    if first then
      show(bufnr, row, col, first.text, first.replace_end, first.command, second)
    end
  end
  local ok
  ok, id = server.call(client, "request", "textDocument/inlineCompletion", params, on_result, bufnr)
  if ok then
    pending = { client = client, id = id }
    M.expect_drafts(bufnr, params.position)
  end
end

--- A request for `position` (LSP units) at the cursor is in flight: its drafts may show.
--- Returns the target to hand to stop_drafts when its answer comes.
function M.expect_drafts(bufnr, position)
  local row, col = cursor()
  draft_target = { bufnr = bufnr, row = row, col = col, changedtick = vim.api.nvim_buf_get_changedtick(bufnr), position = position }
  return draft_target
end

--- The answer came (or the text changed): the final suggestion replaces any draft. With a
--- `target`, only when that request is still the one drafts are shown for.
function M.stop_drafts(target)
  if target ~= nil and target ~= draft_target then
    return
  end
  draft_target = nil
  if M.current and M.current.draft then
    clear_shown()
  end
end

--- The server answered initialize: ask for the keystroke that came too early, if nothing changed since.
function M.on_server_ready()
  local w = waiting
  waiting = nil
  if w and vim.api.nvim_buf_is_valid(w.bufnr) and M.typing_in(w.bufnr) and vim.api.nvim_buf_get_changedtick(w.bufnr) == w.changedtick then
    request(w.trigger_kind)
  end
end

--- A `completer/draft` notification: shown (CompleterDraft) while its request runs and the cursor stays put.
function M.on_draft(draft)
  local p = draft_target
  if not p or not config.options.drafts or vim.uri_from_bufnr(p.bufnr) ~= draft.uri then
    return
  end
  if draft.position.line ~= p.position.line or draft.position.character ~= p.position.character then
    return
  end
  if not still_at(p.bufnr, p.row, p.col, p.changedtick) or type(draft.text) ~= "string" or draft.text == "" then
    return
  end
  M.current = { bufnr = p.bufnr, row = p.row, col = p.col, text = draft.text, replace_end = p.col,
                changedtick = p.changedtick, draft = true }
  ghost.show(p.bufnr, p.row, p.col, draft.text, p.col, "CompleterDraft")
end

--- Ask now, whatever the debounce (the trigger key).
function M.trigger()
  timer:stop()
  request(INVOKED)
end

function M.on_text_changed(bufnr)
  local current = M.current
  if current and current.bufnr == bufnr and current.changedtick == vim.api.nvim_buf_get_changedtick(bufnr) then
    return -- the change was our own partial accept; the rest of the suggestion stays
  end
  M.dismiss()
  if config.options.enabled then
    timer:start(config.options.debounce_ms, 0, vim.schedule_wrap(function()
      request(AUTOMATIC)
    end))
  end
end

function M.on_cursor_moved(bufnr)
  if draft_target and not M.current then
    local row, col = cursor()
    if draft_target.bufnr ~= bufnr or draft_target.row ~= row or draft_target.col ~= col then
      draft_target = nil
    end
  end
  local current = M.current
  if current then
    local row, col = cursor()
    if current.bufnr ~= bufnr or current.row ~= row or current.col ~= col then
      M.dismiss()
    end
  end
end

--- Inserts the start of `suggestion` (the one on screen or its alternative) at the cursor; what is left stays on
--- screen, without the alternative. Once all of it is in, its command runs (arena mode's vote).
local function insert(suggestion, part)
  local current = M.current
  local bufnr, row, col = current.bufnr, current.row, current.col
  local whole = #part == #suggestion.text
  local lines = vim.split(part, "\n", { plain = true })
  ghost.clear(bufnr)
  M.current = nil
  vim.api.nvim_buf_set_text(bufnr, row, col, row, whole and suggestion.replace_end or col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  if not whole then
    show(bufnr, new_row, new_col, suggestion.text:sub(#part + 1), new_col + suggestion.replace_end - col, suggestion.command)
  elseif suggestion.command then
    arena.run(suggestion.command)
  end
end

function M.accept()
  if M.visible() then
    insert(M.current, M.current.text)
  end
end

--- Arena mode's second suggestion is on screen.
function M.alternative_visible()
  return M.visible() and M.current.alternative ~= nil
end

function M.accept_second()
  if M.alternative_visible() then
    insert(M.current.alternative, M.current.alternative.text)
  end
end

--- The part of `text` that accept_word and accept_line insert.
function M.next_word(text)
  return text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text:match("^%s+")
end

function M.next_line(text)
  return text:match("^[^\n]*\n?")
end

function M.accept_word()
  if M.visible() then
    insert(M.current, M.next_word(M.current.text))
  end
end

function M.accept_line()
  if M.visible() then
    insert(M.current, M.next_line(M.current.text))
  end
end

return M
