"""Reading and writing checkpoint folders: Dream, LLaDA, Open-dCoder (Qwen2) and our own format.

A checkpoint is a Hugging Face folder: config.json, one or more *.safetensors files (sharded ones
with model.safetensors.index.json) and tokenizer files. Each family differs only in config keys,
tensor names and whether logits are shifted; this module turns all of them into one
``ModelConfig`` and a state dict with ``model.Transformer``'s names.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ModelLoadError
from .model import ModelConfig, Transformer
from .tokenizer import Tokenizer, load_tokenizer

BUNDLED_DIR = Path(__file__).parent / "bundled"
NATIVE_MODEL_TYPE = "completer"
SHARD_BYTES = 15 * 1024 * 1024  # tensor bytes per shard: with the header, files stay under 16 MiB (a GPU command's limit)

QWEN2_NAMES = [(r"^model\.", "")]
LLADA_NAMES = [
    (r"^model\.transformer\.wte\.", "embed_tokens."),
    (r"^model\.transformer\.ln_f\.", "norm."),
    (r"^model\.transformer\.ff_out\.", "lm_head."),
    (r"^model\.transformer\.blocks\.(\d+)\.attn_norm\.", r"layers.\1.input_layernorm."),
    (r"^model\.transformer\.blocks\.(\d+)\.ff_norm\.", r"layers.\1.post_attention_layernorm."),
    (r"^model\.transformer\.blocks\.(\d+)\.(q|k|v)_proj\.", r"layers.\1.self_attn.\2_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.attn_out\.", r"layers.\1.self_attn.o_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.ff_proj\.", r"layers.\1.mlp.gate_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.up_proj\.", r"layers.\1.mlp.up_proj."),
    (r"^model\.transformer\.blocks\.(\d+)\.ff_out\.", r"layers.\1.mlp.down_proj."),
]
NAME_RULES = {"native": [], "dream": QWEN2_NAMES, "qwen2": QWEN2_NAMES, "llada": LLADA_NAMES}


def resolve(model: str | None) -> Path:
    """A local folder as is; None -> the bundled model; anything else is a hub id to download."""
    if model is None:
        if not (BUNDLED_DIR / "config.json").exists():
            raise ModelLoadError("no bundled model is installed yet: pass a checkpoint folder with --model PATH")
        return BUNDLED_DIR
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ModelLoadError(f"model '{model}' is not a checkpoint folder (and not a hub id like 'org/name')")
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(model, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]))
    except Exception as e:  # offline, unknown repo, gated: all end the same way for the user
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelLoadError(f"cannot download model '{model}' from the Hugging Face hub ({reason}); "
                             f"pass a local checkpoint folder instead: --model /path/to/{model.split('/')[-1]}") from None


def read_config(folder: Path) -> ModelConfig:
    path = folder / "config.json"
    if not path.exists():
        raise ModelLoadError(f"{folder}: no config.json (not a checkpoint folder)")
    try:
        c = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{path}: invalid JSON ({e})") from None
    model_type = str(c.get("model_type", ""))
    try:
        if model_type == NATIVE_MODEL_TYPE:
            return ModelConfig.from_dict({**c, "family": "native"})
        if model_type.lower() == "dream" or model_type == "qwen2":
            return ModelConfig(
                family="dream" if model_type.lower() == "dream" else "qwen2",
                vocab_size=c["vocab_size"], dim=c["hidden_size"], n_layers=c["num_hidden_layers"],
                n_heads=c["num_attention_heads"], n_kv_heads=c.get("num_key_value_heads", c["num_attention_heads"]),
                intermediate_size=c["intermediate_size"], mask_token_id=c.get("mask_token_id", -1),
                max_seq_len=c.get("max_position_embeddings", 32768), rope_theta=c.get("rope_theta", 10000.0),
                norm_eps=c.get("rms_norm_eps", 1e-6), qkv_bias=True,
                tie_embeddings=c.get("tie_word_embeddings", False), shift_logits=True)
        if model_type.lower() == "llada":
            return ModelConfig(
                family="llada", vocab_size=c.get("embedding_size") or c["vocab_size"], dim=c["d_model"],
                n_layers=c["n_layers"], n_heads=c["n_heads"], n_kv_heads=c.get("n_kv_heads") or c["n_heads"],
                intermediate_size=c["mlp_hidden_size"], mask_token_id=c.get("mask_token_id", 126336),
                max_seq_len=c.get("max_sequence_length", 4096), rope_theta=c.get("rope_theta", 10000.0),
                norm_eps=c.get("rms_norm_eps", 1e-5), qkv_bias=bool(c.get("include_bias", False)),
                tie_embeddings=bool(c.get("weight_tying", False)), shift_logits=False)
    except KeyError as e:
        raise ModelLoadError(f"{path}: missing key {e} for model_type '{model_type}'") from None
    raise ModelLoadError(f"{path}: unknown model_type '{model_type}' "
                         f"(supported: Dream, llada, qwen2 (Open-dCoder), {NATIVE_MODEL_TYPE})")


def weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        files = [folder / s for s in shards]
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"{folder}: no *.safetensors weights")
    for f in files:
        if not f.exists():
            raise ModelLoadError(f"{folder}: weight shard {f.name} named in the index is missing")
    return files


def rename(name: str, rules: list[tuple[str, str]]) -> str:
    for pattern, replacement in rules:
        name, n = re.subn(pattern, replacement, name)
        if n:
            break
    return name


def load_weights(folder: Path, config: ModelConfig) -> dict[str, torch.Tensor]:
    rules = NAME_RULES[config.family]
    state: dict[str, torch.Tensor] = {}
    for f in weight_files(folder):
        try:
            tensors = load_file(str(f))
        except (SafetensorError, OSError, RuntimeError) as e:
            raise ModelLoadError(f"{f}: unreadable or truncated weights ({e})") from None
        state.update({rename(k, rules): v for k, v in tensors.items()})
    return state


def build_model(config: ModelConfig, state: dict[str, torch.Tensor], folder: Path,
                dtype: torch.dtype, device: str) -> Transformer:
    config.tie_embeddings = config.tie_embeddings or "lm_head.weight" not in state
    with torch.device("meta"):
        model = Transformer(config)
    expected = set(model.state_dict()) - ({"lm_head.weight"} if config.tie_embeddings else set())
    missing = sorted(expected - set(state))
    if missing:
        raise ModelLoadError(f"{folder}: weights are missing {len(missing)} tensors (e.g. {missing[0]})")
    for name, tensor in model.state_dict().items():
        if name in expected and state[name].shape != tensor.shape:
            raise ModelLoadError(f"{folder}: tensor {name} has shape {tuple(state[name].shape)}, "
                                 f"config says {tuple(tensor.shape)}")
    model.load_state_dict({k: state[k].to(dtype) for k in expected}, assign=True, strict=False)
    if config.tie_embeddings:
        model.lm_head.weight = model.embed_tokens.weight
    return model.to(device).eval()


def load_checkpoint(model: str | None, dtype: torch.dtype = torch.float32,
                    device: str = "cpu") -> tuple[Transformer, Tokenizer, Path]:
    folder = resolve(model)
    config = read_config(folder)
    tokenizer = load_tokenizer(folder, config.mask_token_id if config.mask_token_id >= 0 else None)
    config.mask_token_id = tokenizer.mask_id
    net = build_model(config, load_weights(folder, config), folder, dtype, device)
    return net, tokenizer, folder


def save_native(model: Transformer, tokenizer_dir: Path, out_dir: Path, training: dict | None = None) -> None:
    """Write our own format: config.json, bf16 safetensors (files under 16 MiB), tokenizer files.

    ``training`` (step, tokens, ...) goes into config.json, where a later run can continue from it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = {"model_type": NATIVE_MODEL_TYPE, **model.config.to_dict(), **({"training": training} if training else {})}
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight")
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in state.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    for old in out_dir.glob("model*.safetensors*"):
        old.unlink()
    if len(shards) == 1:
        save_file(shards[0], str(out_dir / "model.safetensors"))
    else:
        weight_map = {}
        for i, shard in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(out_dir / fname))
            weight_map.update({k: fname for k in shard})
        (out_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        src = Path(tokenizer_dir) / name
        if src.exists() and src.resolve() != (out_dir / name).resolve():
            shutil.copy(src, out_dir / name)
