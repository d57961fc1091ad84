import assert from "node:assert/strict";
import { test } from "node:test";
import { fillMissingRanges } from "../src/ranges";

test("an item without a range gets the cursor's zero-width range and ranged items keep theirs", () => {
  const cursor = { start: 5, end: 5 };
  const replacing = { start: 5, end: 6 };
  const items: { insertText: string; range?: { start: number; end: number } }[] = [
    { insertText: "x - 1" },
    { insertText: "a)", range: replacing },
  ];
  fillMissingRanges(items, cursor);
  assert.deepEqual(items.map((item) => item.range), [cursor, replacing]);
});
