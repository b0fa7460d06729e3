"""Every relative link in the project's Markdown (README, docs/, examples/) reaches a file that
exists, and every ``#anchor`` in it names a heading of the file it points to, by GitHub's rule
for heading ids (lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` … for
repeats). Numbers move between documents as they are re-measured; a link that lost its section
sends a reader nowhere without a word."""

from __future__ import annotations

import re
from pathlib import Path

from repo_scripts import ROOT

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    return sorted({*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "examples").rglob("*.md")})


def heading_id(title: str) -> str:
    """GitHub's id for a heading: ``"Choosing it (`recipe_compare.py`)"`` → ``"choosing-it-recipe_comparepy"``."""
    return re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")


def anchors(md: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in FENCE.sub("", md.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            base = heading_id(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            yield base if n == 0 else f"{base}-{n}"


def test_heading_ids_follow_githubs_rule():
    assert heading_id("A GPU run of the bundled model (`scripts/device_train.sh`)") == \
        "a-gpu-run-of-the-bundled-model-scriptsdevice_trainsh"
    assert heading_id("CPU runs 5–7: what pulls the target down") == "cpu-runs-57-what-pulls-the-target-down"


def test_every_relative_link_and_anchor_resolves():
    files = markdown_files()
    assert ROOT / "README.md" in files and len(files) >= 10
    broken = []
    for md in files:
        for target in LINK.findall(FENCE.sub("", md.read_text(encoding="utf-8"))):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, frag = target.partition("#")
            dest = (md.parent / path) if path else md
            if not dest.exists():
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such file)")
            elif frag and dest.suffix == ".md" and frag not in set(anchors(dest)):
                broken.append(f"{md.relative_to(ROOT)}: {target} (no such heading in {dest.name})")
    assert not broken, "\n".join(broken)
