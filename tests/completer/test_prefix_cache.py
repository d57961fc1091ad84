"""The prefix cache: longest shared prefix wins, tokens stay capped, dominated and short entries are not kept."""

from __future__ import annotations

import torch

from completer.prefix_cache import MIN_REUSE, PrefixCache, shared_length


def keys(n: int, fill: float = 0.0) -> torch.Tensor:
    return torch.full((2, 1, n, 4), fill)  # [layers, kv_heads, P, head_dim]


def ids(n: int, start: int = 0) -> list[int]:
    return list(range(start, start + n))


def test_shared_length_counts_leading_equal_tokens():
    assert shared_length(torch.tensor([1, 2, 3]), torch.tensor([1, 2, 4, 5])) == 2
    assert shared_length(torch.tensor([1, 2]), torch.tensor([1, 2, 3])) == 2
    assert shared_length(torch.tensor([9]), torch.tensor([1])) == 0


def test_the_entry_sharing_the_most_leading_tokens_is_matched():
    cache = PrefixCache()
    cache.put(ids(40), *[keys(40, 1.0)] * 2)
    cache.put(ids(20) + ids(40, start=100), *[keys(60, 2.0)] * 2)
    entry, shared = cache.match(ids(50))
    assert shared == 40 and float(entry.k[0, 0, 0, 0]) == 1.0
    entry, shared = cache.match(ids(20) + ids(50, start=100))
    assert shared == 60 and float(entry.k[0, 0, 0, 0]) == 2.0


def test_fewer_shared_tokens_than_min_reuse_is_no_match():
    cache = PrefixCache()
    cache.put(ids(MIN_REUSE + 10), *[keys(MIN_REUSE + 10)] * 2)
    assert cache.match(ids(MIN_REUSE - 1) + [-1] * 20) == (None, 0)
    assert cache.match(ids(MIN_REUSE) + [-1])[1] == MIN_REUSE


def test_a_prefix_too_short_to_pay_or_longer_than_the_cap_is_not_kept():
    cache = PrefixCache(max_tokens=100)
    cache.put(ids(MIN_REUSE - 1), *[keys(MIN_REUSE - 1)] * 2)
    cache.put(ids(101), *[keys(101)] * 2)
    assert not cache.entries and cache.tokens == 0


def test_an_entry_whose_tokens_start_a_new_one_is_dropped():
    cache = PrefixCache()
    cache.put(ids(40), *[keys(40)] * 2)
    cache.put(ids(50), *[keys(50)] * 2)  # the next keystroke: the old prefix plus what was typed
    assert [len(e.ids) for e in cache.entries.values()] == [50]
    assert cache.tokens == 50


def test_least_recently_used_entries_go_first_when_the_tokens_run_out():
    cache = PrefixCache(max_tokens=80)
    cache.put(ids(40, start=0), *[keys(40)] * 2)
    cache.put(ids(40, start=1000), *[keys(40)] * 2)
    cache.match(ids(40, start=0))  # used: now the most recent
    cache.put(ids(40, start=2000), *[keys(40)] * 2)
    assert [int(e.ids[0]) for e in cache.entries.values()] == [0, 2000]
    assert cache.tokens == 80


def test_entries_are_copies_not_views_of_the_callers_rows():
    cache = PrefixCache()
    k = keys(40)
    cache.put(ids(40), k, k)
    k.fill_(5.0)
    assert float(cache.match(ids(40))[0].k.abs().max()) == 0.0
