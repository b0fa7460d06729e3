#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png (upload, job, results, cases pages of dfrec serve): the
# browser test takes them while it drives the real app with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
DFREC_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -q tests/serve/test_browser.py \
  -k test_upload_example_to_results_and_download
ls -l docs/screenshots
