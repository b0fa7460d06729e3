"""Fetch the small test photos shipped in two source distributions on the package registry.

- ``face_recognition==1.3.0``: public-domain photos of Obama and Biden (the tests' faces), into
  ``.cache/fixtures/face_recognition/``;
- ``insightface==0.7.3``: ``t1.jpg`` (a group photo, six faces) and ``Tom_Hanks_54745.png``, into
  ``.cache/fixtures/insightface/``: more untouched faces from outside LFW for
  ``benchmarks/real_photo_scores.py`` (the package is MIT-licensed; the photos' own terms are not
  stated, so they stay local, like everything under ``.cache/``).

They come from the package registry (PyPI) at install time, never at test time (both ignored by
git). Tests that need them skip when they are absent.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / ".cache" / "fixtures"
#: sdist -> (destination folder, the files to take from it)
SOURCES = {
    "face_recognition==1.3.0": (FIXTURES / "face_recognition",
                                ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "32bit.png"]),
    "insightface==0.7.3": (FIXTURES / "insightface", ["t1.jpg", "Tom_Hanks_54745.png"]),
}


def fetch(requirement: str, dest: Path, files: list[str]) -> None:
    """Download ``requirement``'s sdist (no dependencies) and copy ``files`` (and its top-level LICENSE, when it has one) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", name,
               "-d", tmp, requirement]
        subprocess.run(cmd, check=True)
        sdist = next(Path(tmp).glob(f"{name}-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                top_license = member.name.count("/") == 1 and base == "LICENSE"
                if member.isfile() and (base in files or top_license):
                    (dest / base).write_bytes(tar.extractfile(member).read())


def main() -> int:
    for requirement, (dest, files) in SOURCES.items():
        if all((dest / f).exists() for f in files):
            print(f"fixtures present in {dest}")
            continue
        fetch(requirement, dest, files)
        missing = [f for f in files if not (dest / f).exists()]
        if missing:
            print(f"{requirement}: the sdist lacks {missing}", file=sys.stderr)
            return 1
        print(f"fixtures written to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
