# Sourced by the device scripts (device_train.sh, device_tables.sh): the device machine's
# Python environment and what its runs share. Sets PYTHONPATH (dfrec's src, and the carried
# segmentation-models-pytorch wheel when the machine lacks it), HF_HUB_OFFLINE, the offline
# EfficientNet-Lite0 file, WORKERS (data workers: cores - 2), IDENTITY_WEIGHTS and DEVICE_SETS
# (the --set arguments naming the carried data and loss-network weights). DFREC_DEVICE_DIR
# (environment) names that folder when it is not .device (the CPU rehearsal in
# tests/train/test_device_train.py). The loss networks' weights and libx264 travel xz-compressed:
# they are unpacked into a temporary folder, removed when the sourcing script exits.
DEVICE_DIR="${DFREC_DEVICE_DIR:-.device}"
for need in "$DEVICE_DIR/pack/meta.json" "$DEVICE_DIR/identity.safetensors.xz" "$DEVICE_DIR/efficientnet-lite0-trunk.pth.xz"; do
  [ -e "$need" ] || { echo "$(basename "$0"): $need missing: run python scripts/device_prepare.py and carry .device" >&2; exit 2; }
done
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
UNPACKED="$(mktemp -d "${TMPDIR:-/tmp}/dfrec-device.XXXXXX")"
trap 'rm -rf "$UNPACKED"' EXIT
python3 - "$UNPACKED" "$DEVICE_DIR/identity.safetensors.xz" "$DEVICE_DIR/efficientnet-lite0-trunk.pth.xz" <<'EOF'
import lzma, os, shutil, sys
for packed in sys.argv[2:]:
    with lzma.open(packed) as src, open(os.path.join(sys.argv[1], os.path.basename(packed)[:-3]), "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
IDENTITY_WEIGHTS="$UNPACKED/identity.safetensors"
export DFREC_EFFICIENTNET_LITE0="$UNPACKED/efficientnet-lite0-trunk.pth"
if ! python3 -c "import segmentation_models_pytorch" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$DEVICE_DIR"/whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
WORKERS=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
# one torch import for both facts (importing torch takes seconds), one per line
{ read -r DEVICE_NAME; read -r TORCH_VERSION; } < <(python3 -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'); print(torch.__version__)")
echo "device: $DEVICE_NAME | torch $TORCH_VERSION | $WORKERS data workers"
# what the device machine's data and loss networks are (every run on it alike)
DEVICE_SETS=(--set data.cache="$DEVICE_DIR/pack" --set loss.identity_weights="$IDENTITY_WEIGHTS"
             --set loss.efficientnet_lite0_weights="$DFREC_EFFICIENTNET_LITE0")
# libx264 for the training chain's H.264 round trips (augment.h264_prob; dfrec.x264), carried xz-compressed.
# One H.264 round trip is tried here: where it fails, the run goes on without H.264 rather than not at all.
if [ -e "$DEVICE_DIR/libx264.so.xz" ] && [ -z "${DFREC_LIBX264:-}" ]; then
  export DFREC_LIBX264="$UNPACKED/libx264.so"
  if X264_BUILD=$(python3 - "$DEVICE_DIR/libx264.so.xz" "$DFREC_LIBX264" 2>&1 <<'EOF'
import lzma, shutil, sys
import numpy as np
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))
from dfrec.x264 import clip_round_trip, library
clip_round_trip(np.full((32, 32, 3), 128, np.uint8), 30)
print(library().build)
EOF
  ); then
    echo "libx264: x264 build $X264_BUILD, from $DEVICE_DIR/libx264.so.xz"
  else
    echo "warning: the carried libx264 does not work here, training without H.264 round trips: ${X264_BUILD}" >&2
    unset DFREC_LIBX264
    DEVICE_SETS+=(--set data.synth.augment.h264_prob=0)
  fi
fi
