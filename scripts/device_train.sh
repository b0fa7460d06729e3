#!/usr/bin/env bash
# One GPU training run of the bundled model: the first job whenever a device machine is at hand.
#
#   here:     python scripts/device_prepare.py          # builds .device/ (pack, fp16 loss weights, smp wheel)
#             bash scripts/device_train.sh 8 --dry-run  # what would travel and the total (64 MiB limit)
#   device:   run(command="bash scripts/device_train.sh 8", carry=[".device"], timeout_s=600)
#   after:    python scripts/accept_model.py <files_at>/model   # the gate on val, then test identities, then the photos from outside LFW
#   (the paper tables that need training run the same way: scripts/device_tables.sh)
#
# usage: scripts/device_train.sh MINUTES [--from-scratch] [--dry-run] [--config YAML] [--set KEY=VALUE ...]
#   MINUTES         training budget (<= 10; the run ends, validates its EMA weights and exports
#                   well inside a 10-minute call when MINUTES <= 8)
#   --from-scratch  do not start from the bundled weights (use when the recipe changed the
#                   architecture so much that nothing carries over)
#   --set KEY=VALUE passed on to `dfrec train` after the script's own settings (repeatable), e.g.
#                   a loss ablation: --set loss.lambda_attr=0; a CPU rehearsal: --set data.batch_size=8
#   GATE_N=N        (environment) held-out forgeries per kind for the gate (default 96)
#   BREAKDOWN=1     (environment) then, if at least 90 s of the 570 s budget are left, where a
#                   step's time goes (benchmarks/train_step_breakdown.py) into breakdown.txt
#   BREAKDOWN_BATCH=N (environment) its batch (default 128; e.g. 4 for a CPU rehearsal)
#
# Writes to $OUT (what the device tool brings back; at most 8 files of 16 MiB):
#   model/config.json + model-*.safetensors   EMA weights, fp16, with the cumulative history
#   metrics.jsonl                             every logged step and validation
#   train.log                                 the trainer's log (compile time, host syncs, warnings): the
#                                             device tool returns only the last 12,000 characters of output
#   gate.json                                 bundled vs new on the same held-out forgeries
#   breakdown.txt                             (BREAKDOWN=1) the step-time table
# (8 files with BREAKDOWN=1: the model's four and these four) and prints one line per minute
# (step, img/s, loss, last validation) so a run that times out still tells what happened.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=""
SCRATCH=0
DRY=0
CONFIG=configs/small_lfw_gpu.yaml
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --from-scratch) SCRATCH=1 ;;
    --dry-run) DRY=1 ;;
    --config) CONFIG="$2"; shift ;;
    --set) [ $# -ge 2 ] || { echo "device_train.sh: --set needs KEY=VALUE" >&2; exit 2; }
           EXTRA+=(--set "$2"); shift ;;
    -h|--help) sed -n 2,30p "$0"; exit 0 ;;
    *) MINUTES="$1" ;;
  esac
  shift
done
if [ "$DRY" = 1 ]; then
  exec python3 scripts/device_prepare.py --check
fi
if ! [[ "$MINUTES" =~ ^[0-9]+([.][0-9]+)?$ ]] || awk "BEGIN{exit !($MINUTES <= 0 || $MINUTES > 10)}"; then
  echo "device_train.sh: MINUTES must be a number in (0, 10], got '${MINUTES}'" >&2
  exit 2
fi
OUT="${OUT:-out/device}"
RUN="${RUN_DIR:-/tmp/dfrec_device_run}"
mkdir -p "$OUT"
rm -rf "$RUN"
source scripts/device_env.sh
INIT=(--set model.init_from=src/dfrec/weights/default --set model.init_strict=false)
HISTORY=(--history-from src/dfrec/weights/default)
if [ "$SCRATCH" = 1 ]; then INIT=(--set model.init_from=null); HISTORY=(); fi

python3 -m dfrec train --config "$CONFIG" --device auto --out "$RUN" --no-progress \
  --set train.max_minutes="$MINUTES" --set data.workers="$WORKERS" "${DEVICE_SETS[@]}" \
  "${INIT[@]}" ${EXTRA[@]+"${EXTRA[@]}"} > >(tee "$OUT/train.log") 2>&1 &
TRAIN=$!  # the trainer's pid; its log also goes to $OUT/train.log, as the tool returns only the output's tail
report() {  # one line from the newest train and validation rows of metrics.jsonl
  python3 - "$RUN/metrics.jsonl" <<'EOF'
import json, sys, time
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except OSError:
    rows = []
tr = [r for r in rows if "loss" in r]
va = [r for r in rows if "val/idsim_target" in r]
msg = time.strftime("%H:%M:%S")
if tr:
    r = tr[-1]
    msg += f" step {r['step']} img/s {r.get('images_per_s', 0):.0f} loss {r['loss']:.3f} lr {r.get('lr', 0):.2e}"
if va:
    v = va[-1]
    msg += (f" | val@{v['step']}: target IDSim {v['val/idsim_target']:.3f} (None {v.get('val/idsim_target_none', float('nan')):.3f})"
            f" source {v.get('val/idsim_source', float('nan')):.3f} block {v.get('val/blockiness_target', float('nan')):.2f}"
            f" mid {v.get('val/blockiness_mid_target', float('nan')):.2f} checker {v.get('val/checker_target', float('nan')):.2f}"
            f" IoU {v.get('val/map_iou', float('nan')):.2f}")
print(msg, flush=True)
EOF
}
TICK=0
while kill -0 "$TRAIN" 2>/dev/null; do
  sleep 5
  TICK=$((TICK + 5))
  if [ $((TICK % 60)) = 0 ] && kill -0 "$TRAIN" 2>/dev/null; then report || true; fi
done
wait "$TRAIN"
report
cp "$RUN/metrics.jsonl" "$OUT/metrics.jsonl"

python3 scripts/export_default_model.py "$RUN" --ema --dtype float16 --out "$OUT/model" \
  "${HISTORY[@]}" \
  --status "device run: $MINUTES min on $DEVICE_NAME"
python3 scripts/model_gate.py "$OUT/model" --cache "$DEVICE_DIR/pack" --n "${GATE_N:-96}" --device auto \
  --identity-weights "$IDENTITY_WEIGHTS" --json "$OUT/gate.json" || true
if [ "${BREAKDOWN:-0}" = 1 ]; then
  LEFT=$((570 - SECONDS))
  if [ "$LEFT" -gt 90 ]; then
    timeout "$LEFT" python3 benchmarks/train_step_breakdown.py --config "$CONFIG" --batch "${BREAKDOWN_BATCH:-128}" --workers "$WORKERS" \
      --steps 5 "${DEVICE_SETS[@]}" > "$OUT/breakdown.txt" 2>&1 || true
    tail -20 "$OUT/breakdown.txt"
  else
    echo "breakdown skipped: ${LEFT} s left of the 570 s budget"
  fi
fi
ls -la "$OUT" "$OUT/model"
