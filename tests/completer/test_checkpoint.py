"""Checkpoint families load into our model and match transformers' own Qwen2 / Llama, run bidirectionally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from completer.checkpoint import load_checkpoint, resolve
from completer.errors import ModelLoadError
from tests.helpers import make_tiny_checkpoint, make_tokenizer

DIMS = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, rope_theta=10000.0)


def full_attention_logits(hf_model, x: torch.Tensor) -> torch.Tensor:
    """transformers' forward with an all-visible 4D mask: the bidirectional reference."""
    mask = torch.ones(1, 1, x.shape[1], x.shape[1], dtype=torch.bool)
    with torch.no_grad():
        return hf_model(x, attention_mask=mask).logits.float()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def random_hf(cls, config, seed=0):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    model = cls(config).eval()
    with torch.no_grad():  # larger weights than the default init, so errors would show
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def qwen2_checkpoint(folder: Path, model_type: str, vocab: int, mask_id: int | None, tie: bool = False):
    model = random_hf(Qwen2ForCausalLM, Qwen2Config(vocab_size=vocab, tie_word_embeddings=tie, **DIMS))
    model.save_pretrained(folder, max_shard_size="100KB")  # sharded, with model.safetensors.index.json
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    if mask_id is not None:
        config["mask_token_id"] = mask_id
    (folder / "config.json").write_text(json.dumps(config))
    return model


def llada_checkpoint(folder: Path, vocab: int, mask_id: int):
    """LLaDA's layout: Llama maths under OLMo-style tensor names and config keys."""
    model = random_hf(LlamaForCausalLM, LlamaConfig(vocab_size=vocab, tie_word_embeddings=False,
                                                    rms_norm_eps=1e-5, **DIMS))
    names = {"model.embed_tokens.": "model.transformer.wte.", "model.norm.": "model.transformer.ln_f.",
             "lm_head.": "model.transformer.ff_out.", "self_attn.o_proj": "attn_out", "self_attn.": "",
             "mlp.gate_proj": "ff_proj", "mlp.up_proj": "up_proj", "mlp.down_proj": "ff_out",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "ff_norm", "model.layers.": "model.transformer.blocks."}
    state = {}
    for k, v in model.state_dict().items():
        for old, new in names.items():
            k = k.replace(old, new)
        state[k] = v.contiguous()
    save_file(state, str(folder / "model.safetensors"))
    config = {"model_type": "llada", "d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2,
              "mlp_hidden_size": 96, "vocab_size": vocab, "embedding_size": vocab, "rope_theta": 10000.0,
              "rms_norm_eps": 1e-5, "mask_token_id": mask_id, "include_bias": False, "weight_tying": False,
              "max_sequence_length": 512}
    (folder / "config.json").write_text(json.dumps(config))
    return model


@pytest.fixture
def tokenizer_dir(tmp_path):
    return make_tokenizer(tmp_path / "ckpt")


def check_parity(folder: Path, hf_model, expect_family: str, expect_shift: bool):
    ours, tok, _ = load_checkpoint(str(folder))
    assert ours.config.family == expect_family and ours.config.shift_logits == expect_shift
    torch.manual_seed(1)
    x = torch.randint(0, tok.mask_id, (1, 37))
    ref = full_attention_logits(hf_model, x)
    with torch.no_grad():
        assert rel_err(ours(x), ref) <= 1e-4
        cache = ours.new_cache(1, x.shape[1])
        ours(x, 0, cache)  # fill the context cache
        window = ours(x[:, 20:30], 20, cache)  # a block pass over the cached context
    assert rel_err(window, ref[:, 20:30]) <= 1e-4
    return tok


def test_dream_checkpoint_matches_transformers_qwen2_bidirectional(tokenizer_dir):
    vocab, mask = 400, 2
    hf = qwen2_checkpoint(tokenizer_dir, "Dream", vocab, mask_id=mask)
    tok = check_parity(tokenizer_dir, hf, "dream", expect_shift=True)
    assert tok.mask_id == mask


def test_open_dcoder_qwen2_checkpoint_takes_mask_token_from_tokenizer(tokenizer_dir):
    hf = qwen2_checkpoint(tokenizer_dir, "qwen2", 400, mask_id=None, tie=True)
    tok = check_parity(tokenizer_dir, hf, "qwen2", expect_shift=True)
    assert tok.mask_id == tok.backend.token_to_id("<|mask|>")


def test_llada_checkpoint_matches_transformers_llama_bidirectional(tokenizer_dir):
    hf = llada_checkpoint(tokenizer_dir, 400, mask_id=2)
    check_parity(tokenizer_dir, hf, "llada", expect_shift=False)


def test_native_checkpoint_round_trips(tmp_path):
    folder = make_tiny_checkpoint(tmp_path / "tiny")
    model, tok, _ = load_checkpoint(str(folder))
    assert model.config.family == "native" and model.lm_head.weight is model.embed_tokens.weight
    assert tok.mask_id == tok.backend.token_to_id("<|mask|>")


def test_hub_id_offline_fails_with_one_line_naming_the_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as e:
        resolve("Dream-org/Dream-v0-Base-7B")
    msg = str(e.value)
    assert "Dream-org/Dream-v0-Base-7B" in msg and "--model" in msg and "\n" not in msg


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not a checkpoint folder"):
        resolve(str(tmp_path / "nope"))


def test_truncated_weights_are_reported(tmp_path):
    folder = make_tiny_checkpoint(tmp_path / "t")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_checkpoint(str(folder))


def test_missing_shard_is_reported(tokenizer_dir):
    qwen2_checkpoint(tokenizer_dir, "Dream", 400, mask_id=2)
    next(tokenizer_dir.glob("model-*.safetensors")).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_checkpoint(str(tokenizer_dir))


def test_unknown_model_type_is_reported(tmp_path):
    folder = make_tiny_checkpoint(tmp_path / "t")
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match="unknown model_type 'gpt2'"):
        load_checkpoint(str(folder))


def test_tokenizer_without_mask_token_is_reported(tmp_path):
    folder = make_tiny_checkpoint(tmp_path / "t")
    config = json.loads((folder / "config.json").read_text())
    config["mask_token_id"] = -1
    (folder / "config.json").write_text(json.dumps(config))
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    del tok_config["mask_token"]
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
    with pytest.raises(ModelLoadError, match="no mask token"):
        load_checkpoint(str(folder))


def sure_of(model, token: int, runner_up: int) -> None:
    """Make a loaded model all but sure of ``token`` at every position, ``runner_up`` its second choice."""
    head = torch.nn.Linear(model.config.dim, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[token], head.bias[runner_up] = 30.0, 20.0
    model.lm_head = head


@pytest.mark.parametrize("layout", ["native", "dream", "llada"])
def test_a_special_token_the_model_is_sure_of_never_reaches_the_suggestion(tmp_path, layout):
    from completer.sampler import DenoiseSettings, Denoiser
    from completer.scheduler import decode

    folder = tmp_path / layout
    if layout == "native":
        make_tiny_checkpoint(folder)
    else:
        make_tokenizer(folder)
        if layout == "dream":
            qwen2_checkpoint(folder, "Dream", 400, mask_id=2)
        else:
            llada_checkpoint(folder, 400, mask_id=2)
    model, tok, _ = load_checkpoint(str(folder))
    begin, word = tok.backend.token_to_id("<|beginoftext|>"), tok.encode(" x")[0]
    assert begin in tok.banned_ids and not set(tok.banned_ids) & tok.end_ids
    sure_of(model, begin, word)
    result = decode(model, [Denoiser(model, tok, tok.encode("y ="), tok.encode("\n"), DenoiseSettings(max_tokens=6))])[0]
    assert result == [word] * 6  # the runner-up everywhere, never the begin token
    assert not any(text in tok.decode(result) for text in tok.special_texts)


def reference_greedy(hf_model, tok, prefix: list[int], suffix: list[int], n: int, shift: bool) -> list[int]:
    """Masked-diffusion greedy decoding straight on transformers' model: every pass the whole sequence, the
    surest masked position committed; a committed end takes the masked run before it that also picked an end
    and everything after it."""
    span = [tok.mask_id] * n
    while tok.mask_id in span:
        logits = full_attention_logits(hf_model, torch.tensor([prefix + span + suffix]))[0]
        rows = logits[len(prefix) - 1:len(prefix) - 1 + n] if shift else logits[len(prefix):len(prefix) + n]
        rows[:, tok.banned_ids] = -torch.inf
        probs = torch.softmax(rows, dim=-1)
        conf, token = probs.max(dim=-1)
        masked = [i for i in range(n) if span[i] == tok.mask_id]
        best = max(masked, key=lambda i: (conf[i].item(), -i))
        span[best] = token[best].item()
        ends = [i for i in range(n) if span[i] in tok.end_ids]
        if ends:
            end = ends[0]
            while end > 0 and span[end - 1] == tok.mask_id and token[end - 1].item() in tok.end_ids:
                end -= 1
            span[end:] = [tok.end_id] * (n - end)
    return span[:next((i for i, t in enumerate(span) if t in tok.end_ids), n)]


@pytest.mark.parametrize("layout", ["dream", "llada"])
def test_exact_decoding_equals_a_transformers_greedy_reference(tokenizer_dir, layout):
    from completer.sampler import DenoiseSettings, Denoiser
    from completer.scheduler import decode

    if layout == "dream":
        hf = qwen2_checkpoint(tokenizer_dir, "Dream", 400, mask_id=2)
    else:
        hf = llada_checkpoint(tokenizer_dir, 400, mask_id=2)
    model, tok, _ = load_checkpoint(str(tokenizer_dir))
    prefix, suffix, n = tok.encode("def add(a, b):\n    return"), tok.encode("\n\nprint(add(1, 2))\n"), 12
    settings = DenoiseSettings(max_tokens=n, block_size=n, threshold=None, steps=n, refresh_every=1, reuse_keys=False)
    ours = decode(model, [Denoiser(model, tok, prefix, suffix, settings)])[0]
    assert ours == reference_greedy(hf, tok, prefix, suffix, n, shift=model.config.shift_logits)
    assert ours  # random weights fill the span: the comparison covers commits, not only an empty end
