/**
 * The user's `completer.*` settings and what the server is told about them.
 *
 * Kept free of `vscode` imports so the translation can be unit-tested with
 * node's test runner; extension.ts passes in `WorkspaceConfiguration.get`.
 */

export type Effort = "low" | "medium" | "high";

/** Arena mode: the systems' TOML and the database of battles (the server's default folder when left out). */
export interface Arena {
  systems: string;
  db?: string;
}

export interface CompleterSettings {
  enable: boolean;
  /** Ask for a suggestion while typing; when false only the trigger command asks. */
  automatic: boolean;
  /** Checkpoint folder or hub id; "" lets the server use its bundled model. */
  model: string;
  /**
   * The server's options (maxTokens ... arenaStoreCode) are null unless the user sets them: a null one is not sent, so
   * the server's default holds (the main README's table of options).
   */
  maxTokens: number | null;
  /** "low" | "medium" | "high": fewer denoising passes or more care. */
  effort: Effort | null;
  /** Confidence threshold for parallel decoding, overriding the effort's. */
  threshold: number | null;
  /** VS Code language ids that get suggestions; "*" means every language. */
  languages: string[];
  /** Show the model's drafts as ghost text that refines in place while it works. */
  drafts: boolean;
  /** After a pause in typing, ask for an edit near the cursor and the recent edits. */
  nextEdits: boolean;
  /** Suggest a next edit where a token is less likely than this. */
  editThreshold: number | null;
  /** Show nothing unless the best candidate's estimated chance of being right reaches this. */
  minScore: number | null;
  /** Two systems' suggestions at once, the user's pick recorded as a vote; null: off. */
  arena: Arena | null;
  /** Store the code around each battle in the arena's database. */
  arenaStoreCode: boolean | null;
  serverPath: string;
  serverArgs: string[];
  /** When set, the server runs as `<pythonPath> -m lsp --stdio` instead of serverPath. */
  pythonPath: string;
}

/** Mirrors the defaults in package.json's `contributes.configuration` (a test checks they agree). */
export const DEFAULT_SETTINGS: CompleterSettings = {
  enable: true,
  automatic: true,
  model: "",
  maxTokens: null,
  effort: null,
  threshold: null,
  languages: [
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "java", "c", "cpp", "csharp", "ruby", "php", "lua", "shellscript",
  ],
  drafts: true,
  nextEdits: true,
  editThreshold: null,
  minScore: null,
  arena: null,
  arenaStoreCode: null,
  serverPath: "completer",
  serverArgs: ["serve", "--stdio"],
  pythonPath: "",
};

/** The shape of `vscode.WorkspaceConfiguration.get` for the `completer` section. */
export type SettingsReader = <T>(key: string, fallback: T) => T;

export function readSettings(get: SettingsReader): CompleterSettings {
  const settings = { ...DEFAULT_SETTINGS };
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof CompleterSettings)[]) {
    (settings as Record<string, unknown>)[key] = get(key, DEFAULT_SETTINGS[key]);
  }
  return settings;
}

/** The server's options the extension has a setting for: each is sent only when the user set it. */
const SERVER_OPTIONS = ["maxTokens", "effort", "threshold", "editThreshold", "minScore", "arena", "arenaStoreCode"] as const;

/** What the server reads from initializationOptions and from the `completer` configuration section. */
export interface ServerSettings {
  model: string | null;
  languages: string[];
  drafts: boolean;
  /** Only when set: the server keeps its own default otherwise. */
  maxTokens?: number;
  effort?: Effort;
  threshold?: number;
  editThreshold?: number;
  minScore?: number;
  arena?: Arena;
  arenaStoreCode?: boolean;
}

export function serverSettings(settings: CompleterSettings): ServerSettings {
  const set = SERVER_OPTIONS.filter((key) => settings[key] !== null).map((key) => [key, settings[key]]);
  return {
    model: settings.model.trim() === "" ? null : settings.model.trim(),
    languages: settings.languages,
    drafts: settings.drafts,
    ...Object.fromEntries(set),
  };
}

export function languageEnabled(settings: CompleterSettings, languageId: string): boolean {
  return settings.enable && (settings.languages.includes("*") || settings.languages.includes(languageId));
}

/** Settings whose change needs a new server process rather than a configuration notification. */
export const PROCESS_SETTINGS: readonly (keyof CompleterSettings)[] = ["serverPath", "serverArgs", "pythonPath"];
