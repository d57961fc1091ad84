-- Options for completer.nvim: defaults, merging the user's table, and what the server is told.
local M = {}

M.defaults = {
  -- The language server command. With a venv: { "/path/to/.venv/bin/python", "-m", "lsp", "--stdio" }.
  cmd = { "completer", "serve", "--stdio" },
  -- Checkpoint folder or model id; nil lets the server use its bundled model.
  model = nil,
  -- The server's options (max_tokens, effort, threshold, edit_threshold, min_score) are nil unless you set them:
  -- a nil one is not sent, so the server's default holds (the main README's table of options).
  -- Longest suggestion, in tokens.
  max_tokens = nil,
  -- "low", "medium" or "high": fewer denoising passes or more care.
  effort = nil,
  -- Confidence threshold for parallel decoding, overriding the effort's.
  threshold = nil,
  -- Quiet time after a keystroke before asking for a suggestion.
  debounce_ms = 75,
  -- Filetypes that get suggestions; { "*" } means all.
  filetypes = {
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "java", "c", "cpp", "cs", "ruby", "php", "lua", "sh",
  },
  -- Insert-mode keys; set one to false to leave that key alone.
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-C-Right>",
    dismiss = "<C-]>",
    trigger = "<M-\\>",
    -- Normal mode: ask for a next edit at the cursor now.
    next_edit = "<M-]>",
    -- Arena mode: accept the second suggestion (the one on the line below).
    arena_second = "<S-Tab>",
  },
  -- After leaving insert mode (or a change in normal mode), ask for an edit near the cursor and the
  -- recent edits; it shows struck through with the new lines below it, Tab applies it, Esc dismisses it.
  next_edits = true,
  next_edit_debounce_ms = 300,
  -- A next edit is suggested where a token is less likely than this.
  edit_threshold = nil,
  -- Show a suggestion only when its estimated chance of being right reaches this.
  min_score = nil,
  -- Use Neovim's own vim.lsp.inline_completion where it exists (0.12+); false forces the plugin's.
  native = true,
  -- While the model works, show its draft as ghost text (CompleterDraft) that refines in place.
  drafts = true,
  -- Arena mode (nil: off): { systems = "/path/systems.toml", db = "/path/arena.sqlite" } (db optional).
  -- Two systems answer each request; the suggestion you accept is your vote (:CompleterArena shows the table).
  arena = nil,
  -- Store the code around each arena battle in its database (nil: the server's default, false).
  arena_store_code = nil,
  enabled = true,
}

M.options = vim.deepcopy(M.defaults)

--- vim.validate's one-argument form on 0.11+ (the table form is deprecated there), the table form before.
local function validate(name, value, check, message)
  if vim.fn.has("nvim-0.11") == 1 then
    vim.validate(name, value, check, type(check) == "string", message)
  else
    vim.validate({ [name] = { value, check, message or true } })
  end
end

--- Lists (cmd, filetypes) replace the defaults whole; keymaps merge key by key.
function M.apply(user)
  user = user or {}
  for _, key in ipairs({ "cmd", "filetypes", "keymaps" }) do
    validate(key, user[key], "table")
  end
  for _, key in ipairs({ "max_tokens", "debounce_ms", "next_edit_debounce_ms" }) do
    validate(key, user[key], "number")
  end
  validate("model", user.model, "string")
  validate("drafts", user.drafts, "boolean")
  validate("next_edits", user.next_edits, "boolean")
  validate("edit_threshold", user.edit_threshold, function(v) return v == nil or type(v) == "number" end, "a number")
  validate("min_score", user.min_score, function(v) return v == nil or type(v) == "number" end, "a number")
  validate("effort", user.effort, function(v) return v == nil or v == "low" or v == "medium" or v == "high" end,
    '"low", "medium" or "high"')
  validate("threshold", user.threshold, function(v) return v == nil or type(v) == "number" end, "a number")
  validate("arena", user.arena, function(v)
    return v == nil or (type(v) == "table" and type(v.systems) == "string" and (v.db == nil or type(v.db) == "string"))
  end, "{ systems = PATH, db = PATH }")
  validate("arena_store_code", user.arena_store_code, "boolean")
  local options = vim.tbl_extend("force", vim.deepcopy(M.defaults), user)
  options.keymaps = vim.tbl_extend("force", M.defaults.keymaps, user.keymaps or {})
  M.options = options
  return options
end

--- Neovim 0.12+ draws and accepts inline completions itself, one at a time: arena mode shows two, so it takes
--- the plugin's own path.
function M.use_native()
  return M.options.native and not M.options.arena and vim.lsp.inline_completion ~= nil
    and vim.lsp.inline_completion.enable ~= nil
end

function M.filetype_enabled(filetype)
  local filetypes = M.options.filetypes
  return vim.tbl_contains(filetypes, "*") or vim.tbl_contains(filetypes, filetype)
end

--- The `completer` settings section the server reads (same keys as the VS Code extension sends): a nil option is
--- left out, so the server's default holds; the model always goes (nil: null, the bundled model).
function M.server_settings()
  local options = M.options
  return {
    model = options.model or vim.NIL,
    maxTokens = options.max_tokens,
    effort = options.effort,
    threshold = options.threshold,
    languages = options.filetypes,
    drafts = options.drafts,
    editThreshold = options.edit_threshold,
    minScore = options.min_score,
    arena = options.arena and {
      -- the server takes absolute paths: "~" and relative ones are expanded here
      systems = vim.fn.fnamemodify(options.arena.systems, ":p"),
      db = options.arena.db and vim.fn.fnamemodify(options.arena.db, ":p"),
    },
    arenaStoreCode = options.arena_store_code,
  }
end

return M
