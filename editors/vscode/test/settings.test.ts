import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_SETTINGS, languageEnabled, readSettings, serverSettings } from "../src/settings";

const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));

test("package.json declares every setting with the default the code falls back to", () => {
  const properties = manifest.contributes.configuration.properties;
  const declared = Object.fromEntries(
    Object.entries(properties).map(([key, schema]) => [key.replace("completer.", ""), (schema as { default: unknown }).default]),
  );
  assert.deepEqual(declared, DEFAULT_SETTINGS);
});

test("readSettings takes user values and falls back to defaults for the rest", () => {
  const user: Record<string, unknown> = { model: "/models/tiny", maxTokens: 16 };
  const settings = readSettings((key, fallback) => (key in user ? user[key] : fallback) as typeof fallback);
  assert.equal(settings.model, "/models/tiny");
  assert.equal(settings.maxTokens, 16);
  assert.equal(settings.threshold, DEFAULT_SETTINGS.threshold);
  assert.deepEqual(settings.languages, DEFAULT_SETTINGS.languages);
});

test("serverSettings sends no option the user left unset, so the server's defaults hold", () => {
  assert.deepEqual(serverSettings(DEFAULT_SETTINGS), {
    model: null, // an empty model is sent as null: the server picks its bundled model
    languages: DEFAULT_SETTINGS.languages,
    drafts: true,
  });
});

test("serverSettings sends each option the user set, zero too, and trims the model path", () => {
  const sent = serverSettings({ ...DEFAULT_SETTINGS, model: "  /models/tiny ", effort: "low", threshold: 0.8, nextEdits: false });
  assert.deepEqual(sent, { model: "/models/tiny", languages: DEFAULT_SETTINGS.languages, drafts: true, effort: "low", threshold: 0.8 });
  const everything = serverSettings({ ...DEFAULT_SETTINGS, maxTokens: 16, editThreshold: 0.001, minScore: 0 });
  assert.deepEqual(Object.keys(everything).sort(), ["drafts", "editThreshold", "languages", "maxTokens", "minScore", "model"]);
  assert.equal(everything.maxTokens, 16);
  assert.equal(everything.editThreshold, 0.001);
  assert.equal(everything.minScore, 0);
});

test("languageEnabled honours the language list, the '*' wildcard and the enable switch", () => {
  const pythonOnly = { ...DEFAULT_SETTINGS, languages: ["python"] };
  assert.equal(languageEnabled(pythonOnly, "python"), true);
  assert.equal(languageEnabled(pythonOnly, "markdown"), false);
  assert.equal(languageEnabled({ ...DEFAULT_SETTINGS, languages: ["*"] }, "markdown"), true);
  assert.equal(languageEnabled({ ...pythonOnly, enable: false }, "python"), false);
});

test("serverSettings sends the arena's settings only when the user set them", () => {
  assert.equal("arena" in serverSettings(DEFAULT_SETTINGS), false);
  assert.equal("arenaStoreCode" in serverSettings(DEFAULT_SETTINGS), false);
  const arena = { systems: "/home/me/systems.toml", db: "/home/me/arena.sqlite" };
  const sent = serverSettings({ ...DEFAULT_SETTINGS, arena, arenaStoreCode: false });
  assert.deepEqual(sent.arena, arena);
  assert.equal(sent.arenaStoreCode, false);
});
