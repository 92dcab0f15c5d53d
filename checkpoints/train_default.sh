#!/usr/bin/env bash
# Train the shipped default checkpoint again (checkpoints/README.md): the effnet-faces preset on
# the train splits of face68 + ytf68, validated on face68/val, then exported as an fp16 checkpoint.
# On a GPU machine when there is one (--device auto picks CUDA), on the CPU otherwise.
#
#   bash checkpoints/train_default.sh OUT                 # data from LMKVIZ_DATA (default ../shared/datasets)
#   PACK=../shared/packs/faces68-compact.tar.gz bash checkpoints/train_default.sh OUT   # unpack a data pack first
#   TINY=1 bash checkpoints/train_default.sh OUT          # a two-minute smoke test of the whole script
#   bash checkpoints/train_default.sh OUT --resume        # continue OUT's run after an interruption
#
# Settings from the environment: EPOCHS (40), BATCH (32), WORKERS (1 on CPU; use 8-12 on a GPU
# machine), LR (2e-3). OUT receives run/ (config.json, metrics.jsonl, train.log, best.pt,
# last.pt) and default.pt (the fp16 export to copy to checkpoints/).
set -euo pipefail

OUT=${1:?usage: train_default.sh OUT [--resume]}
RESUME=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"

if [ -n "${PACK:-}" ]; then
  mkdir -p "$OUT/data"
  [ -d "$OUT/data/face68" ] || tar -xzf "$PACK" -C "$OUT/data"
  DATA="$OUT/data"
else
  DATA=${LMKVIZ_DATA:-../shared/datasets}
fi
export LMKVIZ_DATA="$DATA"  # the datasets by name, so that config.json holds no path of this machine
for name in face68 ytf68; do
  [ -d "$DATA/$name/train" ] || { echo "no $DATA/$name/train: set LMKVIZ_DATA or PACK" >&2; exit 2; }
done

if [ "$RESUME" = "--resume" ]; then
  python -m lmkviz train --resume "$OUT/run"
else
  [ -e "$OUT/run" ] && { echo "$OUT/run exists: add --resume to continue it" >&2; exit 2; }
  extra=()
  if [ -n "${TINY:-}" ]; then
    extra=(--epochs 1 --limit-train 16 --limit-val 4 --batch-size 4 --workers 0)
  else
    extra=(--epochs "${EPOCHS:-40}" --batch-size "${BATCH:-32}" --workers "${WORKERS:-1}" --lr "${LR:-2e-3}")
  fi
  python -m lmkviz train --preset effnet-faces --name default \
    --data face68 ytf68 --val-data face68 --device auto \
    --run-dir "$OUT/run" "${extra[@]}"
fi

python -c "import sys; from lmkviz import checkpoint; checkpoint.export(sys.argv[1], sys.argv[2], half=True)" \
  "$OUT/run/best.pt" "$OUT/default.pt"
ls -l "$OUT/default.pt"
python -m lmkviz evaluate --checkpoint "$OUT/default.pt" --data face68 --split val --json \
  ${TINY:+--limit 4} > "$OUT/face68_val.json"
cat "$OUT/face68_val.json"
