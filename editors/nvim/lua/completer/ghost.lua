-- Ghost text: a suggestion drawn with extmarks, first line beside the cursor, the rest below it.
local M = {}

M.namespace = vim.api.nvim_create_namespace("completer")

-- Inline virtual text (0.10+) pushes the rest of the line right; before that, text after
-- the cursor would be painted over, so the first line goes to the end of the line instead.
local has_inline = vim.fn.has("nvim-0.10") == 1

vim.cmd("highlight default link CompleterGhost Comment")

function M.show(bufnr, row, col, text)
  M.clear(bufnr)
  local lines = vim.split(text, "\n", { plain = true })
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, true)[1]
  local position
  if has_inline then
    position = "inline"
  elseif col >= #line then
    position = "overlay"
  else
    position = "eol"
  end
  local below = {}
  for i = 2, #lines do
    below[#below + 1] = { { lines[i], "CompleterGhost" } }
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.namespace, row, col, {
    virt_text = { { lines[1], "CompleterGhost" } },
    virt_text_pos = position,
    virt_lines = #below > 0 and below or nil,
    hl_mode = "combine",
  })
end

function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.namespace, 0, -1)
  end
end

return M
