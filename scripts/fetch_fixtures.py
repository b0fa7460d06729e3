"""Fetch the small public-domain test faces shipped in the ``face_recognition==1.3.0`` sdist.

They come from the package registry (PyPI) at install time, never at test time, and land
in ``.cache/fixtures/face_recognition/`` (ignored by git). Tests that need them skip when
they are absent.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / ".cache" / "fixtures" / "face_recognition"
FILES = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "32bit.png"]


def main() -> int:
    if all((DEST / f).exists() for f in FILES):
        print(f"fixtures present in {DEST}")
        return 0
    DEST.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
               "-d", tmp, "face_recognition==1.3.0"]
        subprocess.run(cmd, check=True)
        sdist = next(Path(tmp).glob("face_recognition-1.3.0.tar.gz"))
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if "/tests/test_images/" in member.name and name in FILES or member.name.endswith("/LICENSE"):
                    data = tar.extractfile(member).read()
                    (DEST / ("LICENSE" if name == "LICENSE" else name)).write_bytes(data)
    print(f"fixtures written to {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
