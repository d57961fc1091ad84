"""The denoiser: one bidirectional transformer for every checkpoint family we load.

Dream / DiffuCoder / Dream-Coder, Open-dCoder (Qwen2 layouts), LLaDA (Llama-like) and our own
bundled model share one architecture: RoPE, RMSNorm, SwiGLU MLP, grouped-query attention and
*no causal mask*. Module names follow the Hugging Face Qwen2 layout (minus the leading
``model.``) so most checkpoints load without renaming; ``checkpoint.py`` maps the rest.

The context cache is what makes block denoising cheap: keys and values of the whole sequence
(prefix, span, suffix) are kept per layer, and a pass over the active block recomputes only the
block's rows, writing its fresh keys/values into the cache before attending over all of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import kernels

FAMILIES = ("native", "dream", "llada", "qwen2")


@dataclass
class ModelConfig:
    family: str
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    intermediate_size: int
    mask_token_id: int
    max_seq_len: int = 4096
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    qkv_bias: bool = False
    tie_embeddings: bool = False
    shift_logits: bool = False  # hidden state i predicts token i+1 (Dream, Open-dCoder)

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class ContextCache:
    """Per-layer keys/values of the whole sequence, shape [layers, B, kv_heads, S, head_dim]."""

    def __init__(self, config: ModelConfig, batch: int, seq_len: int, dtype: torch.dtype, device):
        shape = (config.n_layers, batch, config.n_kv_heads, seq_len, config.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    @property
    def seq_len(self) -> int:
        return self.k.shape[3]

    def update(self, layer: int, start: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write a window's fresh keys/values and return the layer's whole cache."""
        end = start + k.shape[2]
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer], self.v[layer]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return kernels.rms_norm(x, self.weight, self.eps)


def rope_tables(head_dim: int, positions: Tensor, theta: float) -> tuple[Tensor, Tensor]:
    """cos/sin for the half-split ("rotate_half") RoPE layout that HF Qwen2/Llama weights use."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim))
    angles = positions.float()[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.n_heads, self.n_kv_heads, self.head_dim = c.n_heads, c.n_kv_heads, c.head_dim
        self.q_proj = nn.Linear(c.dim, c.n_heads * c.head_dim, bias=c.qkv_bias)
        self.k_proj = nn.Linear(c.dim, c.n_kv_heads * c.head_dim, bias=c.qkv_bias)
        self.v_proj = nn.Linear(c.dim, c.n_kv_heads * c.head_dim, bias=c.qkv_bias)
        self.o_proj = nn.Linear(c.n_heads * c.head_dim, c.dim, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, layer: int, start: int,
                cache: ContextCache | None) -> Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, start, k, v)
        y = kernels.attention(q, k, v)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.dim, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.dim, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(kernels.swiglu(self.gate_proj(x), self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, layer: int, start: int,
                cache: ContextCache | None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, layer, start, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


def init_weights(module: nn.Module) -> None:
    """Small-normal init (std 0.02) as in GPT-2/LLaMA training; loading a checkpoint overwrites it."""
    if isinstance(module, (nn.Linear, nn.Embedding)) and not module.weight.is_meta:  # meta: about to load
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        # an explicit weight skips Embedding's own normal_ init, which on the meta device imports torch._dynamo
        self.embed_tokens = nn.Embedding(config.vocab_size, config.dim,
                                         _weight=torch.empty(config.vocab_size, config.dim))
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.apply(init_weights)

    def forward(self, tokens: Tensor, start: int = 0, cache: ContextCache | None = None,
                logits_range: tuple[int, int] | None = None) -> Tensor:
        """Logits for ``tokens`` [B, T], which sit at positions ``start .. start+T`` of the sequence.

        Without a cache, ``tokens`` is the whole sequence. With one, the window's keys/values are
        written into it and every query attends over the cache's whole sequence; a window that is
        the whole sequence (start 0) refreshes the cache and gives exactly the uncached result.
        ``logits_range`` (relative to the window) limits the costly vocabulary projection.
        """
        T = tokens.shape[1]
        positions = torch.arange(start, start + T, device=tokens.device)
        cos, sin = rope_tables(self.config.head_dim, positions, self.config.rope_theta)
        x = self.embed_tokens(tokens)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, i, start, cache)
        if logits_range is not None:
            x = x[:, logits_range[0]:logits_range[1]]
        return self.lm_head(self.norm(x)).float()

    def new_cache(self, batch: int, seq_len: int) -> ContextCache:
        p = self.embed_tokens.weight
        return ContextCache(self.config, batch, seq_len, p.dtype, p.device)
