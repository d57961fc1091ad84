import assert from "node:assert/strict";
import { test } from "node:test";
import { Status, StatusView } from "../src/status";

function tracked(enabled = true): { status: Status; views: StatusView[] } {
  const views: StatusView[] = [];
  return { status: new Status(enabled, (view) => views.push(view)), views };
}

test("the item shows starting, then ready, then working while a request runs, then the latency", () => {
  const { status, views } = tracked();
  assert.match(status.view().tooltip, /starting/);
  status.setServer({ kind: "ready" });
  assert.equal(views.at(-1)!.text, "$(sparkle) Completer");
  status.requestStarted();
  assert.match(views.at(-1)!.tooltip, /working/);
  status.requestFinished(123.4);
  assert.equal(views.at(-1)!.text, "$(sparkle) Completer 123 ms");
});

test("a cancelled request leaves the last latency alone", () => {
  const { status } = tracked();
  status.setServer({ kind: "ready" });
  status.requestStarted();
  status.requestFinished(50);
  status.requestStarted();
  status.requestFinished(null);
  assert.equal(status.view().text, "$(sparkle) Completer 50 ms");
});

test("overlapping requests keep the item working until the last one ends", () => {
  const { status } = tracked();
  status.setServer({ kind: "ready" });
  status.requestStarted();
  status.requestStarted();
  status.requestFinished(10);
  assert.match(status.view().tooltip, /working/);
  status.requestFinished(20);
  assert.match(status.view().tooltip, /ready/);
});

test("errors and restarts are shown as errors with the reason", () => {
  const { status } = tracked();
  status.setServer({ kind: "error", message: "spawn completer ENOENT" });
  assert.deepEqual(status.view(), { text: "$(error) Completer", tooltip: "Completer: spawn completer ENOENT", isError: true });
  status.setServer({ kind: "restarting", delayMs: 4000 });
  assert.equal(status.view().isError, true);
  assert.match(status.view().tooltip, /restarting in 4 s/);
});

test("disabling shows the disabled state and the click hint to enable again", () => {
  const { status } = tracked();
  status.setServer({ kind: "ready" });
  status.setEnabled(false);
  assert.equal(status.view().text, "$(circle-slash) Completer");
  assert.match(status.view().tooltip, /Click to enable/);
});

test("a request that came back empty says so, and the next suggestion clears it", () => {
  const { status } = tracked();
  status.setServer({ kind: "ready" });
  status.requestStarted();
  status.requestFinished(80, true);
  assert.equal(status.view().text, "$(sparkle) Completer: no suggestion (80 ms)");
  assert.match(status.view().tooltip, /came back with no suggestion/);
  status.requestStarted();
  status.requestFinished(null, true); // cancelled: says nothing
  assert.equal(status.view().text, "$(sparkle) Completer: no suggestion (80 ms)");
  status.requestStarted();
  status.requestFinished(60, false);
  assert.equal(status.view().text, "$(sparkle) Completer 60 ms");
});
