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

test("serverSettings sends an empty model as null so the server picks its bundled model", () => {
  assert.deepEqual(serverSettings(DEFAULT_SETTINGS), {
    model: null,
    maxTokens: 64,
    effort: "medium",
    threshold: null,
    languages: DEFAULT_SETTINGS.languages,
    drafts: true,
  });
});

test("serverSettings keeps only what the server reads and trims the model path", () => {
  const sent = serverSettings({ ...DEFAULT_SETTINGS, model: "  /models/tiny ", effort: "low", threshold: 0.8 });
  assert.deepEqual(Object.keys(sent).sort(), ["drafts", "effort", "languages", "maxTokens", "model", "threshold"]);
  const withThreshold = serverSettings({ ...DEFAULT_SETTINGS, editThreshold: 0.001, nextEdits: false });
  assert.deepEqual(Object.keys(withThreshold).sort(), ["drafts", "editThreshold", "effort", "languages", "maxTokens", "model", "threshold"]);
  assert.equal(withThreshold.editThreshold, 0.001);
  assert.equal(serverSettings({ ...DEFAULT_SETTINGS, minScore: 0 }).minScore, 0);
  assert.equal(sent.model, "/models/tiny");
  assert.equal(sent.effort, "low");
  assert.equal(sent.threshold, 0.8);
});

test("languageEnabled honours the language list, the '*' wildcard and the enable switch", () => {
  const pythonOnly = { ...DEFAULT_SETTINGS, languages: ["python"] };
  assert.equal(languageEnabled(pythonOnly, "python"), true);
  assert.equal(languageEnabled(pythonOnly, "markdown"), false);
  assert.equal(languageEnabled({ ...DEFAULT_SETTINGS, languages: ["*"] }, "markdown"), true);
  assert.equal(languageEnabled({ ...pythonOnly, enable: false }, "python"), false);
});
