#!/usr/bin/env bash
# Make .carry/, the ignored folder a GPU call carries beside the working tree (64 MiB in all):
#   .carry/data    the prepared corpus (`completer train prepare`), with the shipped model's tokenizer
#                  so that training can continue the shipped model; made once, kept if present
#   .carry/wheels  the wheels of completer/train/gpu_wheels.txt (what the eval path needs beyond the
#                  GPU image), for Python 3.12 on x86-64 Linux, installed offline there by gpu_recipe.sh
#
#   bash completer/train/gpu_carry.sh [MAX_MB]      # MAX_MB: cap on corpus source text (default 250)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
MAX_MB=${1:-250}
LIMIT=$((64 * 1024 * 1024))

if [ ! -f .carry/data/tokens.npz ]; then
  "$PYTHON" -m completer train prepare --out .carry/data --decontaminate-from evals/data --max-mb "$MAX_MB" --tokenizer-from completer/bundled
fi

rm -rf .carry/wheels
mkdir -p .carry/wheels
if grep -qv '^\s*\(#\|$\)' completer/train/gpu_wheels.txt; then
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .carry/wheels -r completer/train/gpu_wheels.txt
fi

tree=$(git ls-files -z | du -cb --files0-from=- | tail -n 1 | cut -f 1)
carry=$(du -sb .carry | cut -f 1)
total=$((tree + carry))
echo "working tree $((tree / 1048576)) MiB + .carry $((carry / 1048576)) MiB = $((total / 1048576)) MiB of 64 MiB"
if [ "$total" -gt "$LIMIT" ]; then
  echo "gpu_carry.sh: over the 64 MiB a GPU call carries; prepare with a smaller MAX_MB" >&2
  exit 1
fi
