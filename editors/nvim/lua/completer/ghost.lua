-- Ghost text: a suggestion (or a draft of one) drawn with extmarks, first line at the cursor, the rest below.
local M = {}

M.namespace = vim.api.nvim_create_namespace("completer")

-- Inline virtual text (0.10+) pushes the rest of the line right. Before that, an overlay at the
-- cursor paints over the text right of it, so the overlay carries that text again after the
-- suggestion: the line looks as it will after accepting.
local has_inline = vim.fn.has("nvim-0.10") == 1

--- Colours of their own, for cterm too: from 0.10 the default scheme gives `Comment` no cterm
--- colour, so without 'termguicolors' (tmux's default) a suggestion would look like typed code.
--- Neovim's own inline completion (0.12) draws with ComplHint, which has the same gap.
function M.define_highlights()
  vim.cmd("highlight default CompleterGhost ctermfg=8 guifg=#808080 cterm=italic gui=italic")
  vim.cmd("highlight default link CompleterDraft CompleterGhost")
  vim.cmd("highlight default link CompleterAlternative CompleterGhost")
  if vim.fn.hlexists("ComplHint") == 1 and vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID("ComplHint")), "fg", "cterm") == "" then
    vim.cmd("highlight! link ComplHint CompleterGhost")
  end
end

M.define_highlights()

--- Arena mode's second suggestion as virtual lines: its first line under the cursor, after `key` (the key
--- that accepts it), its other lines as they are.
local function alternative_lines(line, col, alternative)
  local lines = vim.split(alternative.text, "\n", { plain = true })
  local label = alternative.key .. " "
  local pad = math.max(vim.fn.strdisplaywidth(line:sub(1, col)) - vim.fn.strdisplaywidth(label), 0)
  local below = { { { (" "):rep(pad) .. label .. lines[1], "CompleterAlternative" } } }
  for i = 2, #lines do
    below[#below + 1] = { { lines[i], "CompleterAlternative" } }
  end
  return below
end

--- Draws `text` at (row, col); `replace_end` is where the text it replaces on that line ends. An
--- `alternative` ({ text, key }) shows below it (CompleterAlternative).
function M.show(bufnr, row, col, text, replace_end, group, alternative)
  M.clear(bufnr)
  group = group or "CompleterGhost"
  replace_end = replace_end or col
  local lines = vim.split(text, "\n", { plain = true })
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  local first = { { lines[1], group } }
  local position = "inline"
  if not has_inline or replace_end > col then
    position = "overlay"
    local rest = line:sub(replace_end + 1)
    if rest ~= "" then
      first[#first + 1] = { rest, "Normal" }
    end
  end
  local below = {}
  for i = 2, #lines do
    below[#below + 1] = { { lines[i], group } }
  end
  if alternative then
    vim.list_extend(below, alternative_lines(line, col, alternative))
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.namespace, row, col, {
    virt_text = first,
    virt_text_pos = position,
    virt_lines = #below > 0 and below or nil,
    hl_mode = "replace", -- "combine" would take on the highlight under it (MatchParen on a ")" makes it bold code)
  })
end

function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
  end
end

return M
