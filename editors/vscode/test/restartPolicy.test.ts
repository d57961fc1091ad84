import assert from "node:assert/strict";
import { test } from "node:test";
import { RestartPolicy } from "../src/restartPolicy";

test("crashes in quick succession back off and then give up", () => {
  const policy = new RestartPolicy([100, 200, 400], 60_000);
  policy.started(0);
  assert.deepEqual([policy.nextDelay(10), policy.nextDelay(20), policy.nextDelay(30), policy.nextDelay(40)], [100, 200, 400, null]);
});

test("a server that dies at start-up, long after the clock began, still gives up", () => {
  const policy = new RestartPolicy([1000, 2000], 60_000);
  const now = 1_700_000_000_000; // Date.now(): far from 0, and the server never became ready
  assert.deepEqual([policy.nextDelay(now), policy.nextDelay(now + 1_000), policy.nextDelay(now + 3_000)], [1000, 2000, null]);
});

test("a server that was ready once and then keeps dying at start-up gives up", () => {
  const policy = new RestartPolicy([100, 200], 60_000);
  policy.started(0);
  assert.equal(policy.nextDelay(120_000), 100); // a long healthy run: clean slate
  assert.equal(policy.nextDelay(240_000), 200); // never ready since: no clean slate, however long ago
  assert.equal(policy.nextDelay(360_000), null);
});

test("a long healthy run forgives earlier crashes", () => {
  const policy = new RestartPolicy([100, 200], 60_000);
  policy.started(0);
  policy.nextDelay(10);
  policy.nextDelay(20);
  policy.started(1_000);
  assert.equal(policy.nextDelay(1_000 + 60_000), 100);
});

test("reset (a manual restart) starts the back-off over", () => {
  const policy = new RestartPolicy([100], 60_000);
  policy.started(0);
  policy.nextDelay(1);
  assert.equal(policy.nextDelay(2), null);
  policy.reset();
  assert.equal(policy.nextDelay(3), 100);
});
