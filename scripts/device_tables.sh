#!/usr/bin/env bash
# The paper's tables that need training, on the device machine (scripts/train_tables.py):
# short runs that differ in one thing, each scored on the same held-out forgeries.
#
#   device:   run(command="bash scripts/device_tables.sh losses 1.5", carry=[".device"], timeout_s=600)
#   after:    copy <files_at>/<table>.md and .json to docs/results/training_tables/
#
# usage: scripts/device_tables.sh TABLE MINUTES_PER_ROW [--rows 1,3] [--init scratch|bundled|DIR] [--set KEY=VALUE ...]
#   TABLE            kinds (train on one forgery kind, test on all: Tables II / IV)
#                    or losses (identity only, + patch, + perceptual, + attribute: Table VII)
#   MINUTES_PER_ROW  training budget of each row; rows that could not end inside the call's
#                    570 s are not started (the table says so; run again with --rows for them)
#   GATE_N=N         (environment) held-out swaps per set (default 48)
# Rows shorter than 3 minutes train without torch.compile (its compilation would eat the row).
# Writes to $OUT: <table>.json, <table>.md (rewritten after every row) and tables.log.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,15p "$0"; exit 2; }
TABLE="$1"; MINUTES="$2"; shift 2
OUT="${OUT:-out/device}"
mkdir -p "$OUT"
source scripts/device_env.sh
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rows|--init) ARGS+=("$1" "$2"); shift ;;
    --set) ARGS+=(--set "$2"); shift ;;
    *) echo "device_tables.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
SETS=(--set data.workers="$WORKERS" --set data.val_samples=0 "${DEVICE_SETS[@]}")
if awk "BEGIN{exit !($MINUTES < 3)}"; then SETS+=(--set train.compile=false --set train.compile_loss=false); fi
python3 scripts/train_tables.py "$TABLE" --minutes "$MINUTES" --out "$OUT" --runs /tmp/dfrec_table_runs \
  --cache "$DEVICE_DIR/pack" --identity-weights "$IDENTITY_WEIGHTS" --n "${GATE_N:-48}" --device auto \
  --deadline-min "$(awk "BEGIN{print (570 - $SECONDS) / 60}")" "${SETS[@]}" ${ARGS[@]+"${ARGS[@]}"} 2>&1 | tee "$OUT/tables.log"
ls -la "$OUT"
