import assert from "node:assert/strict";
import { test } from "node:test";
import { editsOf, previewText } from "../src/nextEdit";

const edit = { range: { start: { line: 3, character: 17 }, end: { line: 3, character: 22 } }, text: "value" };

test("editsOf takes the edits of a reply for the version asked about", () => {
  assert.deepEqual(editsOf({ edits: [edit], version: 4 }, 4), [edit]);
  assert.deepEqual(editsOf({ edits: [edit] }, 4), [edit]);
});

test("editsOf drops a stale reply, a malformed one and malformed edits", () => {
  assert.deepEqual(editsOf({ edits: [edit], version: 3 }, 4), []);
  assert.deepEqual(editsOf(null, 4), []);
  assert.deepEqual(editsOf({ edits: "no" }, 4), []);
  const broken = [{ text: "x" }, { range: { start: { line: -1, character: 0 }, end: { line: 0, character: 0 } }, text: "x" }, { ...edit, text: 5 }];
  assert.deepEqual(editsOf({ edits: [...broken, edit], version: 4 }, 4), [edit]);
});

test("previewText keeps the new text on one line and marks a deletion", () => {
  assert.equal(previewText("value"), "value");
  assert.equal(previewText("a\n    b"), "a⏎    b");
  assert.equal(previewText(""), "⌫");
});
