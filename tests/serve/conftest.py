"""Fixtures of the ``dfrec serve`` tests: a small gallery, Chromium for the browser tests
(required, not skipped, when ``CI`` is set)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .helpers import CHROMIUM_ARGS


@pytest.fixture(scope="session")
def test_gallery(tmp_path_factory, fixture_dir) -> Path:
    """A small gallery: Obama (3 photos) and Biden (1 photo) from the public-domain fixtures."""
    from dfrec.cli.main import main

    root = tmp_path_factory.mktemp("gallery")
    people = root / "people"
    for name, files in (("Barack_Obama", ("obama.jpg", "obama2.jpg", "obama3.jpg")), ("Joe_Biden", ("biden.jpg",))):
        (people / name).mkdir(parents=True)
        for f in files:
            shutil.copy(fixture_dir / f, people / name / f)
    assert main(["gallery", "add", str(people), "-g", str(root / "g"), "--device", "cpu", "--no-progress"]) == 0
    return root / "g"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's Chromium; skips locally when absent, fails in CI (set-up must install it)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
        why = "the playwright package is not installed (bash scripts/setup.sh installs it)"
    else:
        why = "Chromium is not installed (bash scripts/setup.sh installs it: apt-get install chromium)"
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
