#!/usr/bin/env bash
# The main job on the bundled example (run by scripts/setup.sh): recover the source and
# target faces behind a synthetic face swap with the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
dfrec recover examples/obama_on_biden/forgery.png -o out/demo
echo "open out/demo/summary.html (or the per-input report.html) to see the result"
