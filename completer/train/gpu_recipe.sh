#!/usr/bin/env bash
# Train the bundled model on one CUDA GPU in segments of at most 10 minutes.
#
#   bash completer/train/gpu_recipe.sh DATA RUN [SEGMENTS]
#
# DATA is a folder made by `completer train prepare` (tokenizer + tokens.npz, under 64 MiB, so it
# can be copied to the GPU machine). Each segment trains for $MINUTES (default 9) minutes, ends with
# a checkpoint in RUN/checkpoint.pt and an export in RUN/model/ (bf16 safetensors in files of at most
# 16 MiB), and the next segment (or the next invocation of this script) resumes from it. Copy
# RUN/model/ into completer/bundled/ to ship it. Shape and schedule can be overridden by env vars.
set -euo pipefail
DATA=${1:?usage: gpu_recipe.sh DATA RUN [SEGMENTS]}
RUN=${2:?usage: gpu_recipe.sh DATA RUN [SEGMENTS]}
SEGMENTS=${3:-1}
MINUTES=${MINUTES:-9}
STEPS=${STEPS:-12000}
PYTHON=${PYTHON:-python}

for segment in $(seq "$SEGMENTS"); do
  echo "segment $segment of $SEGMENTS (at most $MINUTES minutes)"
  "$PYTHON" -m completer train run --data "$DATA" --out "$RUN" --resume --device cuda \
    --minutes "$MINUTES" --steps "$STEPS" --warmup "${WARMUP:-300}" --precision bf16 \
    --batch-size "${BATCH:-64}" --seq-len "${SEQ_LEN:-512}" --lr "${LR:-1e-3}" --min-lr "${MIN_LR:-1e-4}" \
    --dim "${DIM:-384}" --layers "${LAYERS:-8}" --heads "${HEADS:-6}" --kv-heads "${KV_HEADS:-2}" \
    --intermediate "${INTERMEDIATE:-1024}" --eval-every 250 --eval-batches 8 --log-every 50 \
    --checkpoint-minutes 3
done
