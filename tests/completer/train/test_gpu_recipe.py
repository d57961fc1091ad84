"""The GPU recipe, run on CPU exactly as a GPU call runs it: segments, resume, a lost machine, eval.

Every Python process the recipe starts records the modules it imported, and those must come from
what the GPU image has (torch, triton, numpy, tokenizers, safetensors and their requirements) or,
for the eval path, from the wheels listed in completer/train/gpu_wheels.txt.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from completer.train.loop import train

ROOT = Path(__file__).resolve().parents[3]
RECIPE = ROOT / "completer" / "train" / "gpu_recipe.sh"
WHEELS = ROOT / "completer" / "train" / "gpu_wheels.txt"
GPU_IMAGE = ("torch", "triton", "numpy", "tokenizers", "safetensors")
NEVER_ON_THE_TRAINING_PATH = {"pygls", "lsprotocol", "fastapi", "uvicorn", "tree-sitter", "tree-sitter-language-pack",
                              "matplotlib", "transformers"}

# Imported by every process at start-up (by site); at exit it writes one JSON line of the top-level modules
# loaded from files since then, with their files (synthetic modules such as Cython's runtime have none).
RECORDER = """
import atexit, json, os, sys
_before = set(sys.modules)
def _record():
    files = {m: getattr(sys.modules[m], "__file__", None) for m in set(sys.modules) - _before if "." not in m}
    with open(os.environ["COMPLETER_IMPORT_LOG"], "a") as f:
        f.write(json.dumps({"argv": sys.argv, "modules": {m: p for m, p in files.items() if p}}) + "\\n")
atexit.register(_record)
"""

def requirement_closure(names) -> set[str]:
    """Installed distributions that ``names`` need, transitively (what installing them brings)."""
    seen, todo = set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        seen.add(name)
        for line in needs:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def distributions_of(modules: dict[str, str]) -> set[str]:
    """The distributions that provide these top-level modules (given with their files), stdlib and ours left out."""
    stdlib = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    owners = packages_distributions()
    found = set()
    for name, file in modules.items():
        path = Path(file).resolve()
        if "site-packages" not in path.parts and (path.is_relative_to(ROOT) or any(path.is_relative_to(p) for p in stdlib)):
            continue
        if name in ("sitecustomize", "__main__", "__mp_main__"):
            continue
        assert name in owners, f"module {name} ({file}) comes from no installed distribution"
        found |= {canonicalize_name(d) for d in owners[name]}
    return found


def listed_wheels() -> set[str]:
    lines = [line.split("#")[0].strip() for line in WHEELS.read_text().splitlines()]
    return {canonicalize_name(Requirement(line).name) for line in lines if line}


@pytest.fixture
def recipe(tmp_path, data):
    """Run the recipe like a GPU call, on CPU and in a tiny shape; returns (run, its output)."""
    recorder = tmp_path / "recorder"
    recorder.mkdir()
    (recorder / "sitecustomize.py").write_text(RECORDER)
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(recorder), "DEVICE": "cpu", "DATA": str(data),
           "RUN": str(tmp_path / "run"), "BRING_BACK": str(tmp_path / "back"), "CONTINUE": str(tmp_path / "continue"),
           "COMPLETER_IMPORT_LOG": str(tmp_path / "imports.jsonl"), "PRECISION": "fp32", "STEPS": "5",
           "WARMUP": "2", "MINUTES": "0", "BATCH": "4", "SEQ_LEN": "96", "BENCH_SECONDS": "0.2"}

    def run(mode: str, *args: str, **overrides: str) -> str:
        result = subprocess.run(["bash", str(RECIPE), mode, *args], env={**env, **overrides}, cwd=tmp_path,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
    return run


def test_gpu_recipe_dry_run_trains_in_segments_survives_a_lost_machine_and_evaluates(recipe, data, tiny, tmp_path):
    shipped = train(tiny(data, tmp_path / "shipped", steps=2)).export  # stands in for completer/bundled
    back = tmp_path / "back"

    bench = recipe("bench", INIT_FROM=str(shipped))
    assert "tokens/s" in bench and "peak process RSS" in bench and not (tmp_path / "run").exists()

    recipe("train", "--eval-batches", "1", INIT_FROM=str(shipped))  # one step: MINUTES=0
    state = json.loads((back / "config.json").read_text())["training"]
    assert state["step"] == 1 and state["origin"] == str(shipped) and state["tokens_total"] == 3 * 4 * 96
    files = list(back.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size < 16 * 2**20 for f in files)
    assert (tmp_path / "run" / "checkpoint.pt").exists()

    recipe("train", "--eval-batches", "1", INIT_FROM=str(shipped))  # the next call, same machine
    assert json.loads((back / "config.json").read_text())["training"]["step"] == 2

    shutil.copytree(back, tmp_path / "continue")  # the machine is lost; what came back is carried
    shutil.rmtree(tmp_path / "run")
    out = recipe("train", "--eval-batches", "1", INIT_FROM=str(shipped))
    assert "continuing from its export at step 2" in out
    assert json.loads((back / "config.json").read_text())["training"]["step"] == 3
    with open(back / "train_log.csv") as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == [1, 2, 3]

    recipe("eval", BENCHMARKS="single-line", LIMIT="2", WORKERS="2")
    assert len((back / "single-line.jsonl").read_text().splitlines()) == 2
    assert "pass@1" in (back / "single-line.txt").read_text()

    records = [json.loads(line) for line in (tmp_path / "imports.jsonl").read_text().splitlines()]
    image = requirement_closure(GPU_IMAGE)
    training = [r for r in records if r["argv"][1:3] == ["train", "run"]]
    evaluation = [r for r in records if r["argv"][1:2] == ["eval"]]
    assert len(training) == 4 and len(evaluation) == 1
    for record in training:
        extra = distributions_of(record["modules"]) - image
        assert not extra, f"the training path imports what the GPU image lacks: {sorted(extra)}"
        assert not distributions_of(record["modules"]) & NEVER_ON_THE_TRAINING_PATH
    needed = distributions_of(evaluation[0]["modules"]) - image
    assert needed == listed_wheels(), "completer/train/gpu_wheels.txt must list exactly what the eval path " \
                                      f"needs beyond the GPU image: {sorted(needed)}"
