/** Which process to start as the language server, from the user's settings. */
import type { CompleterSettings } from "./settings";

export interface ServerCommand {
  command: string;
  args: string[];
}

/**
 * A Python interpreter wins over serverPath: it lets users point at a venv
 * without putting the `completer` script on PATH.
 */
export function resolveServerCommand(
  settings: Pick<CompleterSettings, "serverPath" | "serverArgs" | "pythonPath">,
  home: string,
): ServerCommand {
  const python = settings.pythonPath.trim();
  if (python !== "") {
    return { command: expandHome(python, home), args: ["-m", "lsp", "--stdio"] };
  }
  const serverPath = settings.serverPath.trim() || "completer";
  return { command: expandHome(serverPath, home), args: [...settings.serverArgs] };
}

export function describeCommand(command: ServerCommand): string {
  return [command.command, ...command.args].join(" ");
}

function expandHome(path: string, home: string): string {
  if (path === "~") {
    return home;
  }
  return path.startsWith("~/") ? home + path.slice(1) : path;
}
