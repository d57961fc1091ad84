#!/usr/bin/env bash
# One command per GPU call: measure, train one segment, or evaluate, from the working tree.
#
#   bash completer/train/gpu_recipe.sh bench|train|eval [extra `completer train run` options]
#
# It runs on the GPU image as it is (python3 with torch, numpy, tokenizers, safetensors; no
# registry): the code comes from the tree (PYTHONPATH=.), the prepared data from the carried folder
# .carry/data (`bash completer/train/gpu_carry.sh` makes it), and any wheels in .carry/wheels are
# installed offline first.
#
# train: one segment of at most $MINUTES of training. The full checkpoint stays in $RUN on the GPU
#   machine's own disk and the next call resumes it while the machine is up. Every segment ends
#   with a bf16 export; its weights, config (with the step reached) and log are copied to
#   $BRING_BACK (the device tool's $OUT): at most 8 files of under 16 MiB. On a fresh machine (no
#   checkpoint), a brought-back export carried as $CONTINUE is continued with a fresh optimizer.
#   A new run starts from $INIT_FROM's weights (the shipped model), in its shape; INIT_FROM= (empty)
#   starts from scratch in the shape DIM LAYERS HEADS KV_HEADS INTERMEDIATE.
# bench: --bench-seconds $BENCH_SECONDS for each batch size in $BENCH_BATCHES; saves nothing.
# eval: HumanEval-infilling ($BENCHMARKS) of $MODEL on the device, tests on $WORKERS cores; the
#   JSONL and the summary of each benchmark go to $BRING_BACK.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:?usage: gpu_recipe.sh bench|train|eval [options for completer train run]}
shift
DATA=${DATA:-.carry/data}
RUN=${RUN:-/root/completer-run}
CONTINUE=${CONTINUE:-.carry/continue}
BRING_BACK=${BRING_BACK:-${OUT:-$RUN/bring-back}}
INIT_FROM=${INIT_FROM-completer/bundled}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if compgen -G ".carry/wheels/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/completer-site .carry/wheels/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/completer-site"
fi

if [ -n "$INIT_FROM" ]; then
  shape=(--init-from "$INIT_FROM")
else
  shape=(--dim "${DIM:-384}" --layers "${LAYERS:-8}" --heads "${HEADS:-6}" --kv-heads "${KV_HEADS:-2}"
         --intermediate "${INTERMEDIATE:-1024}")
fi
schedule=(--data "$DATA" --device "$DEVICE" --precision "${PRECISION:-bf16}" --steps "${STEPS:-12000}"
          --warmup "${WARMUP:-200}" --batch-size "${BATCH:-64}" --seq-len "${SEQ_LEN:-512}"
          --lr "${LR:-1e-3}" --min-lr "${MIN_LR:-1e-4}" "${shape[@]}")
mkdir -p "$BRING_BACK"

case "$MODE" in
  bench)
    for batch in ${BENCH_BATCHES:-${BATCH:-64}}; do
      "$PYTHON" -m completer train run "${schedule[@]}" --batch-size "$batch" --out "$RUN/bench" \
        --bench-seconds "${BENCH_SECONDS:-20}" "$@"
    done
    ;;
  train)
    if [ ! -f "$RUN/checkpoint.pt" ] && [ ! -f "$RUN/model/config.json" ] && [ -f "$CONTINUE/config.json" ]; then
      mkdir -p "$RUN/model"
      cp "$CONTINUE"/* "$RUN/model/"
      cp "$DATA"/tokenizer.json "$DATA"/tokenizer_config.json "$DATA"/manifest.json "$RUN/model/"
      if [ -f "$CONTINUE/train_log.csv" ]; then cp "$CONTINUE/train_log.csv" "$RUN/"; fi
    fi
    "$PYTHON" -m completer train run "${schedule[@]}" --out "$RUN" --resume --minutes "${MINUTES:-8}" \
      --eval-every "${EVAL_EVERY:-250}" --eval-batches 8 --log-every 50 --checkpoint-minutes 3 "$@"
    cp "$RUN"/model/config.json "$RUN"/model/train_log.csv "$RUN"/model/model*.safetensors* "$BRING_BACK/"
    tail -n 3 "$RUN/train_log.csv"
    ;;
  eval)
    MODEL=${MODEL:-$RUN/model}
    for benchmark in ${BENCHMARKS:-single-line random-span-light}; do
      "$PYTHON" -m completer eval humaneval-infill --benchmark "$benchmark" --model "$MODEL" \
        --workers "${WORKERS:-16}" ${LIMIT:+--limit "$LIMIT"} --out "$BRING_BACK/$benchmark.jsonl" "$@" \
        | tee "$BRING_BACK/$benchmark.txt"
    done
    ;;
  *)
    echo "gpu_recipe.sh: unknown mode '$MODE' (bench, train or eval)" >&2
    exit 2
    ;;
esac
