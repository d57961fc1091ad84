"""`completer doctor` states the facts of the model it loaded and of the paths it runs: through the real
CLI, on a tiny checkpoint of an unusual shape and on the bundled model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from completer.checkpoint import load_checkpoint
from completer.cli import main
from completer.doctor import lines
from tests.helpers import make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]
KERNEL_NAMES = ["attention", "confidence", "rms_norm", "swiglu"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("odd") / "odd-shape", max_seq_len=777, shift_logits=True, n_layers=3)


def doctor(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("COMPLETER_KERNELS", "COMPLETER_CUDA_GRAPHS", "TRITON_INTERPRET")}
    return subprocess.run([sys.executable, "-m", "completer", "doctor", *args], capture_output=True, text=True, timeout=300,
                          env={**clean, "PYTHONPATH": str(ROOT), **env})


def test_doctor_json_states_the_facts_of_the_model_it_loaded(tiny):
    r = doctor("--model", str(tiny), "--json")
    assert r.returncode == 0, r.stderr
    facts = json.loads(r.stdout)
    model, tok, _ = load_checkpoint(str(tiny))
    config = model.config
    assert (facts["device"], facts["dtype"], facts["torch"]["version"]) == ("cpu", "float32", torch.__version__)
    assert facts["torch"]["threads"] >= 1 and facts["torch"]["usable_cores"] >= 1
    assert facts["model"] == {"name": "odd-shape", "folder": str(tiny), "head_dim": config.head_dim,
                              "parameters": sum(p.numel() for p in model.parameters()), **config.to_dict()}
    assert (facts["model"]["n_layers"], facts["model"]["max_seq_len"], facts["model"]["shift_logits"]) == (3, 777, True)
    assert facts["tokenizer"] == {
        "vocab_size": tok.backend.get_vocab_size(), "mask_id": tok.mask_id, "mask_text": "<|mask|>",
        "end_ids": sorted(tok.end_ids), "end_texts": ["<|endoftext|>"], "bos_id": tok.bos_id, "bos_text": "<|beginoftext|>",
        "special_tokens": ["<|beginoftext|>", "<|endoftext|>", "<|mask|>"], "newline_ids": len(tok.newline_ids)}
    assert facts["kernels"] == {name: {"path": "torch", "why": "cpu tensors: Triton runs on CUDA"} for name in KERNEL_NAMES}
    assert facts["cuda_graphs"]["on"] is False and "COMPLETER_CUDA_GRAPHS is not 1" in facts["cuda_graphs"]["why"]


def test_doctor_shows_each_kernel_passing_its_check_where_triton_runs(tiny):
    r = doctor("--model", str(tiny), "--json", COMPLETER_KERNELS="triton", TRITON_INTERPRET="1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kernels"] == {
        name: {"path": "triton", "why": "passed its check against the torch reference"} for name in KERNEL_NAMES}


def test_doctor_text_on_the_bundled_model_says_what_its_json_says():
    text, as_json = doctor(), doctor("--json")
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    facts = json.loads(as_json.stdout)
    assert text.stdout.splitlines() == list(lines(facts))
    model, tok, folder = load_checkpoint(None)
    assert (facts["model"]["name"], facts["model"]["folder"]) == ("bundled", str(folder))
    assert facts["model"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert f"  mask_text: {tok.decode([tok.mask_id])}" in text.stdout.splitlines()
    assert "    why: COMPLETER_KERNELS=torch" in doctor(COMPLETER_KERNELS="torch").stdout.splitlines()


def test_a_token_text_with_white_space_is_quoted_on_its_line():
    assert list(lines({"tokenizer": {"end_texts": ["\n", "<|endoftext|>"], "bos_id": None}})) == [
        "tokenizer:", "  end_texts: '\\n', <|endoftext|>", "  bos_id: None"]


@pytest.mark.parametrize("args,env,message", [
    (["--device", "cuda"], {}, "no device 'cuda' here"),
    ([], {"COMPLETER_KERNELS": "triton", "TRITON_INTERPRET": ""}, "needs TRITON_INTERPRET=1"),
    ([], {"COMPLETER_KERNELS": "fast"}, "COMPLETER_KERNELS must be one of"),
    ([], {"COMPLETER_CUDA_GRAPHS": "1"}, "COMPLETER_CUDA_GRAPHS=1 needs a model on CUDA"),
])
def test_what_this_machine_cannot_run_is_one_line(capsys, monkeypatch, tiny, args, env, message):
    if torch.cuda.is_available():
        pytest.skip("these are the errors of a machine without CUDA")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--model", str(tiny), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
