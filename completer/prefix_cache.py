"""Keys and values of recent requests' prefixes, kept so the next keystroke's request need not recompute them.

Consecutive requests in a document share almost all of their prefix: typing one character changes
a token or two at the cursor. The first pass of a request is its costliest (the whole context), so
a request whose prefix starts with tokens a recent request had copies their keys/values and
computes only the rest. With bidirectional attention this is an approximation: an earlier key
depends on the text after it, which has changed (README, "Reusing keys across keystrokes").

The cap counts tokens, so memory follows the model as the context cache does; least recently used
entries go first, and an entry whose tokens start another's is dropped, since the longer one
matches every request at least as far.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor

# 16 contexts of the default 512 tokens: 50 MB for the bundled model (fp32), 100 MB for a 0.5B model
# and 470 MB for a 7B one (bf16)
DEFAULT_TOKENS = 8192
MIN_REUSE = 32  # fewer shared tokens save less than a block pass costs; recompute them instead


@dataclass
class Entry:
    ids: Tensor  # [P] token ids of the prefix
    k: Tensor  # [layers, kv_heads, P, head_dim]
    v: Tensor


def shared_length(a: Tensor, b: Tensor) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    n = min(len(a), len(b))
    differ = (a[:n] != b[:n]).nonzero()
    return int(differ[0]) if len(differ) else n


class PrefixCache:
    def __init__(self, max_tokens: int = DEFAULT_TOKENS) -> None:
        self.max_tokens = max_tokens
        self.entries: OrderedDict[int, Entry] = OrderedDict()  # oldest first
        self.next_key = 0

    @property
    def tokens(self) -> int:
        return sum(len(entry.ids) for entry in self.entries.values())

    def put(self, ids: list[int], k: Tensor, v: Tensor) -> None:
        """Keep a copy of a prefix's keys/values ``k``, ``v`` [layers, kv_heads, P, head_dim]."""
        if not MIN_REUSE <= len(ids) <= self.max_tokens:
            return
        entry = Entry(torch.tensor(ids), k.clone(), v.clone())
        for key, old in list(self.entries.items()):
            if len(old.ids) <= len(entry.ids) and shared_length(old.ids, entry.ids) == len(old.ids):
                del self.entries[key]
        self.entries[self.next_key] = entry
        self.next_key += 1
        while self.tokens > self.max_tokens:
            self.entries.popitem(last=False)

    def match(self, ids: list[int]) -> tuple[Entry | None, int]:
        """The entry sharing the most leading tokens with ``ids``, and how many (None, 0 below MIN_REUSE)."""
        query = torch.tensor(ids)
        best, length = None, 0
        for key, entry in self.entries.items():
            n = shared_length(entry.ids, query)
            if n > length:
                best, length = key, n
        if best is None or length < MIN_REUSE:
            return None, 0
        self.entries.move_to_end(best)
        return self.entries[best], length
