-- Arena mode's commands on the server: the vote an accepted suggestion carries, and :CompleterArena's leaderboard.
local server = require("completer.server")

local M = {
  -- Editor votes in the arena's database, from the server's last reply (:CompleterStatus).
  votes = nil,
}

local function execute(command, on_result)
  local client = server.client()
  if not client then
    vim.notify("completer: the server is not running (it starts when a buffer of a configured filetype opens)",
      vim.log.levels.WARN)
    return
  end
  server.call(client, "request", "workspace/executeCommand", command, function(err, result)
    if server.failed(err) or type(result) ~= "table" then
      return
    end
    M.votes = result.votes or M.votes
    if on_result then
      on_result(result)
    end
  end)
end

--- Runs an accepted item's command (completer.arenaVote in arena mode) after its text is in.
function M.run(command)
  execute({ command = command.command, arguments = command.arguments })
end

--- :CompleterArena: the leaderboard's markdown in a scratch buffer.
function M.leaderboard()
  execute({ command = "completer.arenaLeaderboard" }, function(result)
    local bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, true, vim.split(result.markdown or "", "\n", { plain = true }))
    vim.bo[bufnr].bufhidden = "wipe"
    vim.bo[bufnr].filetype = "markdown"
    vim.cmd("split")
    vim.api.nvim_win_set_buf(0, bufnr)
  end)
end

return M
