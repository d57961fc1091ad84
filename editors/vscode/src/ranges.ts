/**
 * Inline completion items without a range: VS Code then takes the word at the cursor as the
 * range and drops every item that does not start with that word (after `math.pi|`, before `)`).
 * Our server always sends one; this covers any other server behind the extension.
 */
export function fillMissingRanges<R>(items: { range?: R }[], atCursor: R): void {
  for (const item of items) {
    item.range ??= atCursor;
  }
}
