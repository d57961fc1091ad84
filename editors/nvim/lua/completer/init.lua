-- completer.nvim: inline code completions from the completer language server.
local arena = require("completer.arena")
local config = require("completer.config")
local edit = require("completer.edit")
local ghost = require("completer.ghost")
local native = require("completer.native")
local server = require("completer.server")
local suggest = require("completer.suggest")

local M = {}


local function attach(bufnr)
  if not config.options.enabled or not config.filetype_enabled(vim.bo[bufnr].filetype) then
    return
  end
  if vim.bo[bufnr].buftype ~= "" then
    return
  end
  if server.attach(bufnr) and config.use_native() then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  end
end

local function attached(bufnr)
  local client = server.client()
  return client ~= nil and vim.lsp.buf_is_attached(bufnr, client.id)
end

--- An insert-mode expr mapping: run `action` of `module` when a suggestion is visible (`visible`, default
--- "visible", says so), else type the key as usual.
local function map_when_visible(key, module, action, desc, visible)
  vim.keymap.set("i", key, function()
    if require(module)[visible or "visible"]() then
      return ("<Cmd>lua require('%s').%s()<CR>"):format(module, action)
    end
    return key
  end, { expr = true, silent = true, desc = desc })
end

local function set_keymaps()
  local keys = config.options.keymaps
  local module = config.use_native() and "completer.native" or "completer.suggest"
  if config.use_native() and keys.accept then
    vim.keymap.set("i", keys.accept, function()
      if not vim.lsp.inline_completion.get() then
        return keys.accept
      end
    end, { expr = true, silent = true, desc = "completer: accept suggestion" })
  end
  for _, action in ipairs({
    { "accept", "completer: accept suggestion" },
    { "accept_word", "completer: accept next word" },
    { "accept_line", "completer: accept next line" },
    { "dismiss", "completer: dismiss suggestion" },
  }) do
    if keys[action[1]] and not (config.use_native() and action[1] == "accept") then
      map_when_visible(keys[action[1]], module, action[1], action[2])
    end
  end
  if keys.arena_second and config.options.arena then -- arena mode always takes the plugin's own path
    map_when_visible(keys.arena_second, "completer.suggest", "accept_second", "completer: accept the second suggestion",
      "alternative_visible")
  end
  if keys.next_edit then
    vim.keymap.set("n", keys.next_edit, function() edit.request(true) end, { silent = true, desc = "completer: suggest an edit here" })
  end
  if keys.trigger then
    vim.keymap.set("i", keys.trigger, ("<Cmd>lua require('%s').trigger()<CR>"):format(module),
      { silent = true, desc = "completer: suggest here" })
  end
end

local function set_autocmds()
  local group = vim.api.nvim_create_augroup("completer", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    callback = function(args)
      attach(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = ghost.define_highlights })
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = edit.define_highlights })
  local function in_attached(handler)
    return function(args)
      if attached(args.buf) then
        handler(args.buf)
      end
    end
  end
  vim.api.nvim_create_autocmd({ "InsertLeave", "TextChanged" }, { group = group, callback = in_attached(edit.on_changed) })
  vim.api.nvim_create_autocmd({ "InsertEnter", "TextChangedI", "BufLeave" }, { group = group, callback = function() edit.dismiss() end })
  if config.use_native() then -- Neovim asks and draws; the plugin keeps drafts in step and catches up after start-up
    vim.api.nvim_create_autocmd("TextChangedI", { group = group, callback = in_attached(function() suggest.stop_drafts() end) })
    vim.api.nvim_create_autocmd("CursorMovedI", { group = group, callback = in_attached(suggest.on_cursor_moved) })
    vim.api.nvim_create_autocmd("LspAttach", { group = group, callback = in_attached(native.on_attach) })
    return
  end
  vim.api.nvim_create_autocmd("TextChangedI", { group = group, callback = in_attached(suggest.on_text_changed) })
  vim.api.nvim_create_autocmd("CursorMovedI", { group = group, callback = in_attached(suggest.on_cursor_moved) })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    callback = function()
      suggest.dismiss()
    end,
  })
end

function M.toggle()
  config.options.enabled = not config.options.enabled
  if config.options.enabled then
    server.unblock()
    attach(vim.api.nvim_get_current_buf())
  else
    suggest.dismiss()
  end
  if config.use_native() then
    vim.lsp.inline_completion.enable(config.options.enabled)
  end
  vim.notify("completer: " .. (config.options.enabled and "on" or "off"))
end

--- The facts :CompleterStatus prints and :checkhealth reports.
function M.status()
  local client = server.client()
  return {
    enabled = config.options.enabled,
    cmd = table.concat(config.options.cmd, " "),
    model = config.options.model or "(the server's bundled model)",
    running = client ~= nil and client.initialized == true,
    native = config.use_native(),
    last_latency_ms = suggest.last_latency_ms,
    last_result = suggest.last_result,
    last_error = server.last_error,
    arena = config.options.arena ~= nil,
    arena_votes = arena.votes,
  }
end

local function print_status()
  local status = M.status()
  local lines = {
    "completer: " .. (status.enabled and "on" or "off"),
    "server: " .. status.cmd .. (status.running and " (running)" or " (not running)"),
    "model: " .. status.model,
    "rendering: " .. (status.native and "vim.lsp.inline_completion" or "completer.nvim ghost text"),
    "last latency: " .. (status.last_latency_ms and ("%d ms"):format(math.floor(status.last_latency_ms)) or "-"),
    "last result: " .. ({ suggestion = "a suggestion", empty = "no suggestion" })[status.last_result or ""] or "-",
    "last error: " .. (status.last_error or "none"),
  }
  if status.arena then
    lines[#lines + 1] = "arena votes: " .. (status.arena_votes or "-")
  end
  print(table.concat(lines, "\n"))
end

function M.setup(user)
  local was_running = server.client() ~= nil
  config.apply(user)
  if vim.lsp.inline_completion and vim.lsp.inline_completion.enable and not config.use_native() then
    vim.lsp.inline_completion.enable(false) -- set up again with arena mode (or native = false): the plugin draws now
  end
  server.unblock()
  set_keymaps()
  set_autocmds()
  vim.api.nvim_create_user_command("CompleterToggle", M.toggle, { desc = "Turn completer suggestions on or off" })
  vim.api.nvim_create_user_command("CompleterStatus", print_status, { desc = "Show completer's server and state" })
  vim.api.nvim_create_user_command("CompleterNextEdit", function() edit.request(true) end,
    { desc = "Suggest an edit near the cursor and the recent edits" })
  vim.api.nvim_create_user_command("CompleterRewrite", function(args) edit.rewrite(args.line1, args.line2) end,
    { range = true, desc = "Rewrite the selection (or the lines) with the model; Tab applies, Esc dismisses" })
  vim.api.nvim_create_user_command("CompleterArena", arena.leaderboard,
    { desc = "Show the arena's leaderboard (arena mode)" })
  edit.register_command()
  if was_running then
    server.send_settings()
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      attach(bufnr)
    end
  end
end

M.accept = suggest.accept
M.accept_word = suggest.accept_word
M.accept_line = suggest.accept_line
M.dismiss = suggest.dismiss
M.trigger = suggest.trigger
M.visible = suggest.visible
M.next_edit = edit.request
M.accept_edit = edit.accept
M.dismiss_edit = edit.dismiss

return M
