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
    """Per-layer keys/values of whole sequences, shape [layers, rows, kv_heads, S, head_dim].

    One row per sequence: a single request's cache has one row; the scheduler's pool has a row
    per request in flight, sequences of different lengths padded to S.
    """

    def __init__(self, config: ModelConfig, batch: int, seq_len: int, dtype: torch.dtype, device):
        shape = (config.n_layers, batch, config.n_kv_heads, seq_len, config.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)

    @property
    def seq_len(self) -> int:
        return self.k.shape[3]

    def move_row(self, src: int, dst: int) -> None:
        """Copy one sequence's keys/values to another row (the scheduler keeps its rows packed)."""
        self.k[:, dst] = self.k[:, src]
        self.v[:, dst] = self.v[:, src]


@dataclass
class CacheWindow:
    """Where one forward's windows sit in a cache: which rows, which columns, how many keys each row reads.

    ``start`` (one column for every row, contiguous windows) or ``write`` ([B, T] a column per
    token: windows at different places in sequences of different lengths, the padding of short
    windows sent to a column past every row's keys). ``kv_len`` [B] masks each row's keys past
    its own sequence; None reads the first ``keys`` keys of every row.
    """

    cache: ContextCache
    rows: slice
    keys: int
    start: int = 0
    write: Tensor | None = None
    kv_len: Tensor | None = None

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write the window's fresh keys/values and return the keys/values its queries attend over."""
        kc, vc = self.cache.k[layer, self.rows], self.cache.v[layer, self.rows]
        if self.write is None:
            kc[:, :, self.start:self.start + k.shape[2]] = k
            vc[:, :, self.start:self.start + k.shape[2]] = v
        else:
            index = self.write[:, None, :, None].expand_as(k)
            kc.scatter_(2, index, k)
            vc.scatter_(2, index, v)
        return kc[:, :, :self.keys], vc[:, :, :self.keys]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return kernels.rms_norm(x, self.weight, self.eps)


def rope_tables(head_dim: int, positions: Tensor, theta: float) -> tuple[Tensor, Tensor]:
    """cos/sin [..., head_dim] for positions [...], in the half-split ("rotate_half") RoPE layout of HF Qwen2/Llama."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim))
    angles = positions.float()[..., None] * inv_freq
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

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, layer: int, window: CacheWindow | None) -> Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        kv_len = None
        if window is not None:
            k, v = window.update(layer, k, v)
            kv_len = window.kv_len
        y = kernels.attention(q, k, v, kv_len)
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

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, layer: int, window: CacheWindow | None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, layer, window)
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
        window = None if cache is None else CacheWindow(cache, slice(None), cache.seq_len, start=start)
        x = self.hidden(tokens, positions, window)
        if logits_range is not None:
            x = x[:, logits_range[0]:logits_range[1]]
        return self.lm_head(self.norm(x)).float()

    def forward_windows(self, tokens: Tensor, positions: Tensor, window: CacheWindow, logits_at: Tensor) -> Tensor:
        """One pass over a batch of windows, each of its own sequence (a row of ``window.cache``).

        tokens, positions [B, T]; ``logits_at`` [B, n] picks, per row, the window tokens whose
        logits [B, n, V] are wanted. Padding is the caller's: masked keys, a spare write column.
        """
        x = self.hidden(tokens, positions, window)
        x = x.gather(1, logits_at[..., None].expand(-1, -1, x.shape[-1]))
        return self.lm_head(self.norm(x)).float()

    def hidden(self, tokens: Tensor, positions: Tensor, window: CacheWindow | None) -> Tensor:
        cos, sin = rope_tables(self.config.head_dim, positions, self.config.rope_theta)
        if positions.dim() == 2:  # one row of positions per sequence: broadcast over the heads
            cos, sin = cos[:, None], sin[:, None]
        x = self.embed_tokens(tokens)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, i, window)
        return x

    def new_cache(self, batch: int, seq_len: int) -> ContextCache:
        p = self.embed_tokens.weight
        return ContextCache(self.config, batch, seq_len, p.dtype, p.device)
