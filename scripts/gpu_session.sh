#!/usr/bin/env bash
# The GPU issue's whole device session as one command. A lent machine gives a session 15 minutes in
# all, its start (a minute or two) and idle time included, so the steps run in one call that ends
# within SESSION_SECONDS (default 560), each under its own cap, leaving the minutes to rerun a step:
#
#   the device tool's run, carry [".carry"], timeout_s 600:   bash scripts/gpu_session.sh
#   a rerun of some steps, on the still-warm machine:          bash scripts/gpu_session.sh serving kernelbench
#
# Steps, in this order (cap in seconds; CAP_<STEP> changes it):
#   check        45  nvidia-smi, versions, `completer doctor` with CUDA graphs on: each Triton kernel's check
#                    against its torch reference on this GPU, and a graph replay's against the eager pass
#   kernels      90  the kernel tests compiled for this GPU (COMPLETER_TEST_DEVICE=cuda), the CUDA-graphs tests
#   train       200  gpu_recipe.sh bench at $BATCH for BENCH_SECONDS, then one segment continuing the shipped
#                    model until the step's cap less TRAIN_MARGIN_S (its export comes back), the cosine schedule
#                    (STEPS) sized from the bench's tokens/s to end with it; a rerun continues the same run
#   eval        100  gpu_recipe.sh eval of what train exported (else the shipped model): HumanEval single-line
#                    on EVAL_LIMIT tasks (default 300: the README's seeded subset), 8 requests in flight
#   serving      60  bench_denoiser, Qwen2.5-0.5B shape (SERVING_SHAPE), batch 1, 8 and 16: what batching buys
#   graphs       45  bench_denoiser, the bundled shape, batch 1 and 8: the cached pass against CUDA graphs
#   kernelbench  90  bench_kernels, 7B Dream shape: each kernel against torch, a block pass against the memory floor
#
# $OUT gets session.log (every step's output, also printed), summary.md (a row per step: ok, failed, timed
# out or skipped, and its seconds) and what the recipe brings back: the export's config.json,
# model.safetensors and train_log.csv, and single-line.jsonl and .txt (7 files; a call brings back 8).
# DEVICE=cpu with small knobs (BATCH SEQ_LEN EVAL_LIMIT CONTEXTS RUNS SERVING_SHAPE TRAIN_MARGIN_S, the recipe's) runs it
# here in miniature: tests/scripts/test_gpu_session.py.
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-/tmp/gpu-session} DEVICE=${DEVICE:-cuda} PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export RUN=${RUN:-/root/completer-run} BATCH=${BATCH:-256} SEQ_LEN=${SEQ_LEN:-512} BRING_BACK=$OUT
ALL=(check kernels train eval serving graphs kernelbench)
declare -A CAP=([check]=${CAP_CHECK:-45} [kernels]=${CAP_KERNELS:-90} [train]=${CAP_TRAIN:-200}
                [eval]=${CAP_EVAL:-100} [serving]=${CAP_SERVING:-60} [graphs]=${CAP_GRAPHS:-45}
                [kernelbench]=${CAP_KERNELBENCH:-90})

step_check() {
  nvidia-smi || true
  "$PYTHON" -c "import sys, torch, numpy, tokenizers, safetensors; print(sys.version.split()[0], 'torch', torch.__version__,
    'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())"
  "$PYTHON" -c "import triton; print('triton', triton.__version__)" || true
  if [ "$DEVICE" = cuda ]; then export COMPLETER_CUDA_GRAPHS=1; fi
  "$PYTHON" -m completer doctor --device "$DEVICE"
}

step_kernels() {
  COMPLETER_TEST_DEVICE=$DEVICE "$PYTHON" -m pytest -q -p no:cacheprovider tests/kernels/test_attention.py \
    tests/kernels/test_confidence.py tests/kernels/test_norm_swiglu.py tests/completer/test_graphs.py
}

step_train() {
  local bench rate warmup steps left
  bench=$(BENCH_BATCHES=$BATCH BENCH_SECONDS=${BENCH_SECONDS:-10} bash completer/train/gpu_recipe.sh bench)
  echo "$bench"
  read -r rate warmup < <(sed -n 's/^bench: \([0-9]*\) tokens\/s.* after \([0-9.]*\) s of warm-up.*/\1 \2/p' <<<"$bench")
  left=$((STEP_SECONDS - SECONDS - ${TRAIN_MARGIN_S:-30}))  # the export and the copy back come after
  if [ -f "$RUN/steps" ]; then
    steps=$(cat "$RUN/steps")  # a rerun continues the same schedule
  else
    steps=$("$PYTHON" -c "print(max(2, int($rate * max($left - $warmup, 1) / ($BATCH * $SEQ_LEN))))")
    mkdir -p "$RUN" && echo "$steps" >"$RUN/steps"
  fi
  echo "train: $left s for this segment, a schedule of $steps steps at $rate tokens/s"
  STEPS=$steps WARMUP=${WARMUP:-$((steps / 20 + 1))} MINUTES=$("$PYTHON" -c "print(max($left, 1) / 60)") \
    bash completer/train/gpu_recipe.sh train
}

step_eval() {
  local model=completer/bundled
  if [ -f "$RUN/model/config.json" ]; then model=$RUN/model; fi
  echo "eval: $model"
  MODEL=$model BENCHMARKS=single-line LIMIT=${EVAL_LIMIT:-300} bash completer/train/gpu_recipe.sh eval --concurrency 8
}

step_serving() {
  local shape=${SERVING_SHAPE-qwen2-0.5b}  # empty: the bundled model's shape
  "$PYTHON" -m evals.bench_denoiser --device "$DEVICE" ${shape:+--shape "$shape"} --batch 1 8 16 \
    --contexts ${CONTEXTS:-1024} --runs "${RUNS:-3}"
}

step_graphs() {
  "$PYTHON" -m evals.bench_denoiser --device "$DEVICE" --batch 1 8 --contexts ${CONTEXTS:-1024 4096} --runs "${RUNS:-3}"
}

step_kernelbench() {
  if [ "$DEVICE" = cpu ]; then "$PYTHON" -m evals.bench_kernels --smoke; else "$PYTHON" -m evals.bench_kernels --iters 10; fi
}

if [ "${1-}" = --step ]; then  # one step, in its own process group under `timeout`
  set -e
  "step_$2"
  exit
fi

steps=("$@")
if [ $# -eq 0 ]; then steps=("${ALL[@]}"); fi
for step in "${steps[@]}"; do
  if [ -z "${CAP[$step]+set}" ]; then
    echo "gpu_session.sh: unknown step '$step' (steps: ${ALL[*]})" >&2
    exit 2
  fi
done
mkdir -p "$OUT"
deadline=$((SECONDS + ${SESSION_SECONDS:-560}))
summary=("| step | result | seconds |" "| --- | --- | --- |")
for step in "${steps[@]}"; do
  left=$((deadline - SECONDS))
  if [ "$left" -lt "${MIN_STEP_SECONDS:-15}" ]; then
    summary+=("| $step | skipped: $left s left of the session | 0 |")
    continue
  fi
  budget=$((CAP[$step] < left ? CAP[$step] : left))
  echo "=== $step: at most $budget s ===" | tee -a "$OUT/session.log"
  started=$SECONDS
  # timeout signals the step's whole process group: every process it started ends with it
  STEP_SECONDS=$budget timeout -k 5 "$budget" bash "$0" --step "$step" 2>&1 | tee -a "$OUT/session.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) result=ok ;;
    124|137) result="timed out after $budget s" ;;
    *) result="failed (exit $rc)" ;;
  esac
  summary+=("| $step | $result | $((SECONDS - started)) |")
done
printf '%s\n' "${summary[@]}" | tee "$OUT/summary.md"
