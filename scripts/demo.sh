#!/usr/bin/env bash
# The main job on the bundled example (run by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
F=.cache/fixtures/face_recognition
dfrec verify "$F/obama.jpg" "$F/obama2.jpg"
dfrec verify "$F/obama.jpg" "$F/biden.jpg"
