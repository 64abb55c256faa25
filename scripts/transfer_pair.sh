#!/usr/bin/env bash
# The offline transfer pair behind results/transfer/ (README "Fine-tuning from a pre-trained run"):
# pre-train cls on mnist5k (5,000 real MNIST digits) with each norm, then fine-tune on digits (scikit-learn's,
# other writers) at a small and a large batch, from that run (model.init) and from scratch; every run's
# metrics.json is copied to results/transfer/. Then `make results` rewrites the README table.
#   scripts/transfer_pair.sh [python]        NORMS="bn gn" BATCHES="4 32" RUNS=runs/transfer to change them
set -euo pipefail
PY=${1:-python}
RUNS=${RUNS:-runs/transfer}
OUT=results/transfer
NORMS=${NORMS:-"bn gn bgn"}
BATCHES=${BATCHES:-"4 32"}
COMMON=(task=cls model.name=resnet10t data.image_size=32 trainer.max_epochs=1 seed=0 logger.mode=disabled
        trainer.enable_progress_bar=false)
mkdir -p "$OUT"
for norm in $NORMS; do
  "$PY" -m suite "${COMMON[@]}" "norm=$norm" data=mnist5k run_id=pretrain trainer.checkpoint=true \
    "paths.runs=$RUNS"
  cp "$RUNS/cls/$norm/pretrain/metrics.json" "$OUT/$norm-pretrain.json"
  for batch in $BATCHES; do
    for start in scratch pretrained; do
      init=null
      if [ "$start" = pretrained ]; then init="$RUNS/cls/$norm/pretrain"; fi
      "$PY" -m suite "${COMMON[@]}" "norm=$norm" data=digits "data.batch_size=$batch" "model.init=$init" \
        "run_id=finetune-$start" trainer.checkpoint=false "paths.runs=$RUNS/bs$batch"
      cp "$RUNS/bs$batch/cls/$norm/finetune-$start/metrics.json" "$OUT/$norm-bs$batch-$start.json"
    done
  done
done
