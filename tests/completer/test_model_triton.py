"""A tiny model's cached block pass through the Triton kernels (interpreter, CPU) gives torch's logits."""

from __future__ import annotations

import os

import torch


def model_block_pass_case() -> tuple[torch.Tensor, torch.Tensor, dict]:
    """A tiny model's cached block pass (as the sampler runs it) through Triton and through torch, in the
    interpreter worker, and the path each kernel took: one that failed its check would serve torch."""
    import kernels
    from completer.model import ModelConfig, Transformer
    torch.manual_seed(0)
    config = ModelConfig(family="native", vocab_size=96, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                         intermediate_size=96, mask_token_id=95, qkv_bias=True)
    model = Transformer(config).eval()
    tokens = torch.randint(0, 96, (1, 40))
    logits = {}
    with torch.inference_mode():
        for mode in ("triton", "torch"):
            os.environ["COMPLETER_KERNELS"] = mode
            cache = model.new_cache(1, 40)
            model(tokens, 0, cache)  # fill the cache with the whole sequence
            logits[mode] = model(tokens[:, 20:29], 20, cache)
    os.environ["COMPLETER_KERNELS"] = "triton"
    paths = {name: kernels.path(name, tokens)[0] for name in ("attention", "rms_norm", "swiglu")}
    return logits["triton"], logits["torch"], paths


def test_model_block_pass_through_triton_matches_torch(interpreter):
    triton_logits, torch_logits, paths = interpreter.apply(model_block_pass_case)
    assert paths == {"attention": "triton", "rms_norm": "triton", "swiglu": "triton"}
    torch.testing.assert_close(triton_logits, torch_logits, rtol=1e-4, atol=1e-4)
