-- :checkhealth completer — works with vim.health (0.10+, 0.8+) and health#report_* (0.7).
local M = {}

local report
if vim.health and vim.health.start then
  report = { start = vim.health.start, ok = vim.health.ok, warn = vim.health.warn, error = vim.health.error }
elseif vim.health and vim.health.report_start then
  report = {
    start = vim.health.report_start, ok = vim.health.report_ok,
    warn = vim.health.report_warn, error = vim.health.report_error,
  }
else
  report = {
    start = vim.fn["health#report_start"], ok = vim.fn["health#report_ok"],
    warn = vim.fn["health#report_warn"], error = vim.fn["health#report_error"],
  }
end

function M.check()
  local status = require("completer").status()
  local cmd = require("completer.config").options.cmd
  report.start("completer")
  if vim.fn.executable(cmd[1]) == 1 then
    report.ok("server command: " .. status.cmd)
  else
    report.error(("server command %q not found: %s"):format(cmd[1], status.cmd))
  end
  report.ok("model: " .. status.model)
  if status.running then
    report.ok("server running")
  else
    report.warn("server not running (it starts when a buffer of a configured filetype opens)")
  end
  if status.last_error then
    report.error("last error: " .. status.last_error)
  else
    report.ok("no errors")
  end
end

return M
