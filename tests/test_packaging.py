"""Our top-level package `kernels` must not be mistaken for the hub package of that name by transformers."""

import subprocess
import sys


def test_transformers_builds_and_runs_a_model_with_our_kernels_package_installed():
    code = (
        "import kernels, torch, transformers\n"
        "from transformers.utils import import_utils\n"
        "assert kernels.__file__.endswith('kernels/__init__.py')\n"
        "assert not import_utils.is_kernels_available()\n"
        "cfg = transformers.Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,\n"
        "                               num_attention_heads=4, num_key_value_heads=2)\n"
        "model = transformers.AutoModelForCausalLM.from_config(cfg)\n"
        "print(tuple(model(torch.tensor([[1, 2, 3]])).logits.shape))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(1, 3, 64)"
