"""scripts/device_train.sh, the first job of every GPU session, rehearsed on this CPU end to end:
a device folder built by scripts/device_prepare.py (a pack of a few LFW people, the fp16 loss
weights), a few training steps continuing the bundled model, validation, the fp16 export with the
cumulative history, the gate, and what comes back within the device tool's limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from repo_scripts import ROOT, load_script

#: what the device tool brings back from $OUT: at most 8 files, none over 16 MiB
MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2**20


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # python3 = this venv's
    return subprocess.run(["bash", "scripts/device_train.sh", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PATH": path, **env}, timeout=600)


@pytest.fixture(scope="module")
def device_dir(lfw_cache, tmp_path_factory) -> Path:
    """What ``python scripts/device_prepare.py`` builds in .device, from the 12-person LFW cache."""
    prepare = load_script("scripts/device_prepare.py")
    dest = tmp_path_factory.mktemp("device")
    prepare.build_pack(lfw_cache, size=160, quality=75, per_identity=5, dest=dest)
    prepare.build_weights(dest=dest)
    prepare.build_x264(dest=dest)
    return dest


def test_device_train_runs_through_on_cpu(device_dir, tmp_path):
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    cpu = ["--set", "data.batch_size=2", "--set", "data.workers=0", "--set", "data.samples_per_epoch=8",
           "--set", "data.val_samples=4", "--set", "data.val_batch_size=4", "--set", "train.val_images=2",
           "--set", "train.log_every=1", "--set", "train.compile=false", "--set", "train.compile_loss=false"]
    r = _run(["0.05", *cpu], {"DFREC_DEVICE_DIR": str(device_dir), "OUT": str(out),
                              "RUN_DIR": str(tmp_path / "run"), "GATE_N": "2", "TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # the loss weights and libx264 travel xz-compressed, are unpacked for the run and removed after it
    assert {p.name for p in device_dir.glob("*.xz")} == {"identity.safetensors.xz", "efficientnet-lite0-trunk.pth.xz",
                                                        "libx264.so.xz"}
    assert not any(tmp.iterdir())
    # the progress line a timed-out run still leaves: step, speed, loss and the last validation
    assert any(" img/s " in line and "| val@" in line and "target IDSim" in line for line in r.stdout.splitlines()), r.stdout
    assert "libx264: x264 build" in r.stdout  # unpacked from the carried .xz and tried once (augment.h264_prob)

    back = [p for p in out.rglob("*") if p.is_file()]
    assert {p.relative_to(out).as_posix() for p in back} >= {"model/config.json", "model/model.safetensors.index.json",
                                                             "metrics.jsonl", "gate.json", "train.log"}
    assert len(back) <= MAX_FILES - 1  # breakdown.txt (BREAKDOWN=1) is the eighth
    assert max(p.stat().st_size for p in back) <= MAX_FILE_BYTES
    # the trainer's log comes back whole, whatever the tool's output tail keeps
    log = (out / "train.log").read_text()
    assert "dfrec train: training small on cpu" in log and "final model written" in log

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert any("loss" in row for row in rows) and any("val/idsim_target" in row for row in rows)

    bundled = json.loads((ROOT / "src/dfrec/weights/default/config.json").read_text())["metadata"]["history"]
    history = json.loads((out / "model/config.json").read_text())["metadata"]["history"]
    assert history[:-1] == bundled  # the cumulative history, one run added
    assert history[-1]["steps"] >= 1 and history[-1]["init_from"] == "src/dfrec/weights/default"
    assert "val/idsim_target" in history[-1]["validation"]
    for shard in (out / "model").glob("model-*.safetensors"):
        with safe_open(str(shard), "pt") as f:
            assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} <= {"F16", "I64", "BOOL"}

    gate = json.loads((out / "gate.json").read_text())  # bundled vs new on the same held-out forgeries
    assert isinstance(gate["passed"], bool) and set(gate["incumbent"]) == set(gate["candidate"]) >= {"swap", "blend"}
    assert gate["candidate"]["swap"]["idsim_target"] != gate["incumbent"]["swap"]["idsim_target"]  # the new weights ran


def test_device_train_names_what_is_missing(tmp_path):
    r = _run(["1"], {"DFREC_DEVICE_DIR": str(tmp_path / "nothing"), "OUT": str(tmp_path / "out")})
    assert r.returncode == 2 and "pack/meta.json missing" in r.stderr and "device_prepare.py" in r.stderr


def test_prepare_lowers_the_pack_quality_until_the_call_keeps_its_spare(tmp_path, monkeypatch, capsys):
    """As the tree grows, ``device_prepare.py`` rebuilds the pack 5 WebP quality points lower at a
    time until the call keeps SPARE bytes free, never below MIN_QUALITY; an asked-for quality stays."""
    prepare = load_script("scripts/device_prepare.py")
    dest = tmp_path / ".device"
    monkeypatch.setattr(prepare, "DEVICE", dest)

    def fake_pack(cache, size, quality, per_identity, dest=dest):  # 1 MiB per quality point above 40
        (dest / "pack").mkdir(parents=True)
        (dest / "pack" / "meta.json").write_text(json.dumps({"size": size, "quality": quality,
                                                             "max_per_identity": per_identity}))
        (dest / "pack" / "faces.bin").write_bytes(b"\0" * ((quality - 40) << 20))

    def touch(name):
        return lambda dest=dest: (dest / name).write_bytes(b"\0")

    monkeypatch.setattr(prepare, "build_pack", fake_pack)
    monkeypatch.setattr(prepare, "build_weights", lambda dest=dest: [touch(n)() for n in (prepare.IDENTITY_FILE,
                                                                                          prepare.LITE0_FILE)])
    monkeypatch.setattr(prepare, "build_wheels", lambda dest=dest: ((dest / "whl").mkdir(), touch("whl/a.whl")()))
    monkeypatch.setattr(prepare, "build_x264", touch(prepare.X264_FILE))
    (tmp_path / "index.jsonl").write_text("")  # a landmark cache is there: nothing to index
    monkeypatch.setattr(prepare, "tree_bytes", lambda: 33 << 20)  # 33 MiB of tree: with a 30 MiB pack, 1 to spare
    assert prepare.main(["--cache", str(tmp_path)]) == 0
    meta = json.loads((dest / "pack" / "meta.json").read_text())
    assert meta["quality"] == 65 and prepare.call_bytes() <= prepare.LIMIT - prepare.SPARE
    assert "rebuilding the pack at WebP quality 65" in capsys.readouterr().out
    monkeypatch.setattr(prepare, "tree_bytes", lambda: 60 << 20)  # no quality leaves 2 MiB: it stops at the floor
    assert prepare.main(["--cache", str(tmp_path)]) == 1
    assert json.loads((dest / "pack" / "meta.json").read_text())["quality"] == prepare.MIN_QUALITY
    assert prepare.main(["--cache", str(tmp_path), "--quality", "70"]) == 1  # asked for: rebuilt at 70, kept
    assert json.loads((dest / "pack" / "meta.json").read_text())["quality"] == 70
