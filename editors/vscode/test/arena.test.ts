import assert from "node:assert/strict";
import { test } from "node:test";
import { endAfter, markdownOf, secondPreview, splitArenaPair, VOTE_COMMAND, voteCountText, votesOf } from "../src/arena";

const vote = (battle: number, choice: string) => ({ title: "Arena vote", command: VOTE_COMMAND, arguments: [{ battle, choice }] });

test("an arena pair gives VS Code the first item only and keeps the second", () => {
  const first = { insertText: "low_pick", command: vote(1, "first") };
  const second = { insertText: "high_pick", command: vote(1, "second") };
  assert.deepEqual(splitArenaPair([first, second]), { shown: [first], second });
});

test("items without arena votes, and a single 'both' item, pass through whole", () => {
  const plain = [{ insertText: "a" }, { insertText: "b" }];
  assert.deepEqual(splitArenaPair(plain), { shown: plain });
  const both = [{ insertText: "same", command: vote(2, "both") }];
  assert.deepEqual(splitArenaPair(both), { shown: both });
  const other = [{ insertText: "a", command: vote(3, "first") }, { insertText: "b", command: { title: "x", command: "other" } }];
  assert.deepEqual(splitArenaPair(other), { shown: other });
});

test("the second suggestion's preview names its key and shows its first written line", () => {
  assert.equal(secondPreview("high_pick"), "Shift+Tab: high_pick");
  assert.equal(secondPreview("if x:\n    y()"), "Shift+Tab: if x: …");
  assert.equal(secondPreview("\n    return a + b"), "Shift+Tab: return a + b");
});

test("the vote count comes from a result's votes and reads as the status bar says it", () => {
  assert.equal(votesOf({ votes: 3 }), 3);
  assert.equal(votesOf({ votes: 0, markdown: "# Arena leaderboard" }), 0);
  assert.equal(votesOf(null), undefined);
  assert.equal(votesOf({ votes: "3" }), undefined);
  assert.equal(voteCountText(undefined), "arena");
  assert.equal(voteCountText(1), "arena: 1 vote");
  assert.equal(voteCountText(2), "arena: 2 votes");
});

test("the leaderboard's markdown is read only when the result has one", () => {
  assert.equal(markdownOf({ markdown: "# Arena leaderboard", votes: 0 }), "# Arena leaderboard");
  assert.equal(markdownOf({ votes: 0 }), undefined);
  assert.equal(markdownOf(undefined), undefined);
});

test("the cursor ends after the written text, on its last line when it has several", () => {
  assert.deepEqual(endAfter({ line: 4, character: 8 }, "high_pick"), { line: 4, character: 17 });
  assert.deepEqual(endAfter({ line: 4, character: 8 }, "x:\n    y()"), { line: 5, character: 7 });
});
