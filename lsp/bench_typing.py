"""Replay typing a real Python file through a real stdio LSP session and print latency figures.

Types the first N lines of a standard-library module character by character
(one didChange per keystroke, a fixed delay between keystrokes) and asks for an
inline completion at each pause an editor's debounce would catch: the end of a
word and the end of a line. Requests are not awaited before typing on, so slow
answers get superseded as they would in an editor. The session asks for drafts,
as the editor plugins do, and reports time to first draft beside time to the
final item for the requests that had one.

`--random-weights` serves a random-weight model of the GPU recipe's from-scratch shape
(completer/train/gpu_recipe.sh) with the bundled tokenizer, at a fixed 8 passes per block: its
figures follow the engine's speed whatever the shipped model's quality makes of its pass count.

    python -m lsp.bench_typing [--model PATH | --random-weights] [--lines 40] [--keystroke-ms 80] [--threads N]
                               [--no-reuse-keys]
"""

import argparse
import asyncio
import inspect
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from completer.options import DEFAULT_REUSE_KEYS

URI = "file:///bench/textwrap_typed.py"
RECIPE_SHAPE = dict(dim=384, n_layers=8, n_heads=6, n_kv_heads=2, intermediate_size=1024)  # gpu_recipe.sh's defaults
RANDOM_STEPS = 8  # passes per block of the random-weight model


def random_checkpoint(out: Path) -> Path:
    """Save a random-weight model of the recipe's shape, with the bundled model's tokenizer, to ``out``."""
    import torch

    from completer.checkpoint import BUNDLED_DIR, read_config, save_native
    from completer.model import ModelConfig, Transformer

    config = ModelConfig.from_dict({**read_config(BUNDLED_DIR).to_dict(), **RECIPE_SHAPE})
    torch.manual_seed(0)
    save_native(Transformer(config), BUNDLED_DIR, out)
    return out


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def is_pause(typed: str, next_char: str) -> bool:
    """An editor's debounce fires where typing stops: at the end of a word or of a line."""
    return typed == "\n" or (is_word_char(typed) and not is_word_char(next_char))


async def start(client: LanguageClient, server_args: list[str], settings: dict) -> None:
    """Start `python -m lsp --stdio` with `server_args` for `client`, initialize it with `settings`
    (inline completion capable), and return once its model loaded or failed to."""
    loaded = asyncio.Event()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        if "loaded" in params.message or "cannot load" in params.message:
            print(params.message, file=sys.stderr)
            loaded.set()

    await client.start_io(sys.executable, "-m", "lsp", "--stdio", *server_args)
    capabilities = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(inline_completion=types.InlineCompletionClientCapabilities()))
    await client.initialize_async(types.InitializeParams(capabilities=capabilities, initialization_options=settings))
    client.initialized(types.InitializedParams())
    await loaded.wait()


async def replay(model: str | None, lines: int, keystroke_ms: float, max_tokens: int, threads: int | None,
                 steps: int | None, reuse_keys: bool) -> None:
    source = "".join(inspect.getsource(textwrap).splitlines(keepends=True)[:lines])
    client = LanguageClient("bench-typing", "0.1.0")
    first_draft: dict[tuple[int, int, int], float] = {}  # (version, line, character) -> when its first draft came

    @client.feature("completer/draft")
    def on_draft(params) -> None:
        first_draft.setdefault((params.version, params.position.line, params.position.character), time.perf_counter())

    server_args = (["--model", model] if model else []) + (["--threads", str(threads)] if threads else [])
    await start(client, server_args, {"maxTokens": max_tokens, "drafts": True, "steps": steps, "reuseKeys": reuse_keys})
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=URI, language_id="python", version=0, text="")))

    latencies: list[float] = []  # ms, answered requests
    drafted: list[tuple[float, float]] = []  # ms to first draft, ms to final item: answered requests that had a draft
    nulls = 0

    async def ask(version: int, line: int, character: int) -> None:
        nonlocal nulls
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line, character),
        )
        started = time.perf_counter()
        result = await client.text_document_inline_completion_async(params)
        finished = time.perf_counter()
        if result is None:
            nulls += 1
            return
        latencies.append((finished - started) * 1000)
        if (draft := first_draft.get((version, line, character))) is not None:
            drafted.append(((draft - started) * 1000, (finished - started) * 1000))

    pending = []
    line, character = 0, 0
    started = time.perf_counter()
    for index, char in enumerate(source):
        position = types.Position(line, character)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=index + 1),
                content_changes=[types.TextDocumentContentChangePartial(range=types.Range(position, position), text=char)],
            )
        )
        line, character = (line + 1, 0) if char == "\n" else (line, character + utf16_len(char))
        if is_pause(char, source[index + 1 : index + 2]):
            pending.append(asyncio.create_task(ask(index + 1, line, character)))
        await asyncio.sleep(keystroke_ms / 1000)
    await asyncio.gather(*pending)
    wall = time.perf_counter() - started
    counters = (await client.protocol.send_request_async("completer/stats", {}))._asdict()
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    requests = counters["requests"] or 1
    schedule = f"steps={steps}" if steps else "the effort's threshold"
    print(f"typed {len(source)} characters ({lines} lines of textwrap.py) at {keystroke_ms:g} ms/keystroke in {wall:.1f} s; "
          f"maxTokens={max_tokens}, {schedule}, reuseKeys={str(reuse_keys).lower()}")
    print(f"inlineCompletion requests: {len(pending)}  answered: {len(latencies)}  null (superseded): {nulls}")
    if latencies:
        quantiles = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
        print(f"latency request->response (answered): p50 {statistics.median(latencies):.1f} ms  p95 {quantiles[18]:.1f} ms  max {max(latencies):.1f} ms")
    if drafted:
        to_draft, to_final = zip(*drafted)
        print(f"drafts: {len(drafted)} answered requests had one; time to first draft p50 {statistics.median(to_draft):.1f} ms "
              f"vs final item p50 {statistics.median(to_final):.1f} ms (ratio {statistics.median(to_draft) / statistics.median(to_final):.2f})")
    else:
        print("drafts: no answered request had one (answers came from the cache, typed-ahead reuse, or in one pass)")
    print(f"cache hits: {counters['cache_hits']} ({counters['cache_hits'] / requests:.1%})  typed-ahead reuses: {counters['reuses']} ({counters['reuses'] / requests:.1%})  cancellations: {counters['cancellations']}")
    model_calls = counters["model_calls"] or 1
    print(
        f"server time: context building {counters['context_ms']:.1f} ms total ({counters['context_ms'] / requests:.2f} ms/request), "
        f"denoising {counters['model_ms']:.1f} ms total over {counters['model_calls']} model calls ({counters['model_ms'] / model_calls:.1f} ms/call)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model)")
    which.add_argument("--random-weights", action="store_true",
                       help=f"a random-weight model of the GPU recipe's shape at {RANDOM_STEPS} passes per block")
    parser.add_argument("--lines", type=int, default=40, help="how many lines of textwrap.py to type")
    parser.add_argument("--keystroke-ms", type=float, default=80.0, help="delay between keystrokes")
    parser.add_argument("--max-tokens", type=int, default=32, help="completer.maxTokens for the session")
    parser.add_argument("--threads", type=int, help="the server's torch threads (default: its own default)")
    parser.add_argument("--reuse-keys", action=argparse.BooleanOptionalAction, default=DEFAULT_REUSE_KEYS,
                        help="completer.reuseKeys for the session")
    args = parser.parse_args()
    if not args.random_weights:
        asyncio.run(replay(args.model, args.lines, args.keystroke_ms, args.max_tokens, args.threads, None, args.reuse_keys))
        return
    with tempfile.TemporaryDirectory(prefix="bench-typing-") as folder:
        model = random_checkpoint(Path(folder) / "random-recipe-shape")
        asyncio.run(replay(str(model), args.lines, args.keystroke_ms, args.max_tokens, args.threads, RANDOM_STEPS, args.reuse_keys))


if __name__ == "__main__":
    main()
