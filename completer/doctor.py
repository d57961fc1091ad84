"""`completer doctor`: what this machine runs a model with, and why, in one place to read first.

It opens the model as every front end does (`completer.models.open_model`), runs one small pass and one confidence
pick so that each Triton kernel meets its check on this device (on CUDA, or in the interpreter
under COMPLETER_KERNELS=triton), captures and checks one block-pass graph where CUDA graphs are
asked for, and prints the device, torch, each kernel's path and why, CUDA graphs, the model and
its tokenizer. ``--json`` prints the same facts as one JSON object.
"""

from __future__ import annotations

import argparse
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Iterator

import torch

import kernels
from kernels.checked import KERNELS

from .errors import BadInput
from .graphs import check_capture
from .models import is_remote, open_model, usable_cores
from .scheduler import Scheduler
from .tokenizer import Tokenizer


def facts(loaded: Scheduler) -> dict:
    weight = loaded.model.embed_tokens.weight
    device = {"device": str(weight.device), "dtype": str(weight.dtype).removeprefix("torch.")}
    if weight.is_cuda:
        device["gpu"] = torch.cuda.get_device_name(weight.device)
    return {**device, "torch": torch_facts(), "kernels": kernel_paths(loaded), "cuda_graphs": graphs_state(loaded),
            "model": model_facts(loaded), "tokenizer": tokenizer_facts(loaded.tokenizer)}


def torch_facts() -> dict:
    try:
        triton = version("triton")
    except PackageNotFoundError:
        triton = "not installed"
    return {"version": torch.__version__, "threads": torch.get_num_threads(), "usable_cores": usable_cores(),
            "cuda": torch.version.cuda, "triton": triton}


def kernel_paths(loaded: Scheduler) -> dict:
    """Each kernel's path and why, after one small pass and one confidence pick ran them on this device."""
    weight = loaded.model.embed_tokens.weight
    probe = torch.empty(0, dtype=weight.dtype, device=weight.device)
    try:
        kernels.use_triton(probe)
    except (ValueError, RuntimeError) as e:  # COMPLETER_KERNELS asks for what this machine cannot do
        raise BadInput(str(e)) from None
    tokens = torch.full((1, 8), loaded.tokenizer.mask_id, device=weight.device)
    with torch.inference_mode():
        kernels.confidence(loaded.model(tokens)[0])
    return {name: dict(zip(("path", "why"), kernels.path(name, probe))) for name in KERNELS}


def graphs_state(loaded: Scheduler) -> dict:
    if not loaded.cuda_graphs:
        return {"on": False, "why": "COMPLETER_CUDA_GRAPHS is not 1 (off by default until a GPU has measured them)"}
    off = check_capture(loaded.model)
    return {"on": off is None, "why": off or "a captured block pass replayed the eager pass's logits"}


def model_facts(loaded: Scheduler) -> dict:
    model = loaded.model
    return {"name": loaded.name, "folder": str(loaded.folder), "parameters": sum(p.numel() for p in model.parameters()),
            "head_dim": model.config.head_dim, **model.config.to_dict()}


def tokenizer_facts(tok: Tokenizer) -> dict:
    end_ids = sorted(tok.end_ids)
    return {"vocab_size": tok.backend.get_vocab_size(), "mask_id": tok.mask_id, "mask_text": tok.decode([tok.mask_id]),
            "end_ids": end_ids, "end_texts": [tok.decode([i]) for i in end_ids],
            "bos_id": tok.bos_id, "bos_text": None if tok.bos_id is None else tok.decode([tok.bos_id]),
            "special_tokens": list(tok.special_texts), "newline_ids": len(tok.newline_ids)}


def lines(facts: dict, indent: str = "") -> Iterator[str]:
    """The facts as `key: value` lines, each object's facts indented under its key."""
    for key, value in facts.items():
        if isinstance(value, dict):
            yield f"{indent}{key}:"
            yield from lines(value, indent + "  ")
        else:
            yield f"{indent}{key}: {', '.join(map(shown, value)) if isinstance(value, list) else shown(value)}"


def shown(value: object) -> str:
    """A value on one line; a text with white space at its ends or control characters (a token's) quoted."""
    text = str(value)
    return text if text.isprintable() and text.strip() == text else repr(text)


def run_doctor(args: argparse.Namespace) -> int:
    if is_remote(args.model):
        raise BadInput("doctor reads a local model: give a checkpoint folder or hub id, not an endpoint")
    loaded = open_model(args.model, args.device)
    try:
        found = facts(loaded)
    finally:
        loaded.close()
    print(json.dumps(found, indent=2, ensure_ascii=False) if args.json else "\n".join(lines(found)))
    return 0


def add_doctor_parser(sub) -> None:
    p = sub.add_parser("doctor", help="print what this machine runs the model with and why: device, torch, "
                                      "kernels, CUDA graphs, model and tokenizer")
    p.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda where there is one)")
    p.add_argument("--json", action="store_true", help="print the facts as one JSON object")
    p.set_defaults(func=run_doctor)
