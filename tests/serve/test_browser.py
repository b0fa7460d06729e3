"""``dfrec serve`` in a real browser (Playwright + Debian's headless Chromium).

Upload the bundled example -> job page -> results page with the faces, scores and gallery
candidates -> download the report; a file that is not a picture -> the error on the page; a
picture without a face -> its message, then delete that case; restart the server -> the case
is still there.
Screenshots of the pages go to ``$DFREC_SCREENSHOTS`` (``docs/screenshots`` via
``scripts/screenshots.sh``) or the test's temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from .helpers import EXAMPLE, WAIT_S, Server, png_bytes

pytestmark = pytest.mark.usefixtures("chromium")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = Path(os.environ.get("DFREC_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory, test_gallery):
    srv = Server(tmp_path_factory.mktemp("serve") / "data", "--gallery", str(test_gallery)).start()
    yield srv
    srv.stop()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # script errors fail a test; HTTP error statuses are checked by the tests themselves
    pg.on("console", lambda m: errors.append(m.text)
          if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    yield pg
    ctx.close()
    assert not errors, f"errors in the browser console: {errors}"


def upload_files(page, server: Server, files: list[Path | dict]) -> None:
    page.goto(server.url + "/")
    page.set_input_files("#files", files)
    page.click("#upload-button")


def test_upload_example_to_results_and_download(page, server, shots, tmp_path):
    page.goto(server.url + "/")
    files = []
    for name in ("obama_on_biden", "biden_on_obama", "obama_on_astronaut"):  # the bundled examples
        files.append(tmp_path / f"{name}.png")
        files[-1].write_bytes((EXAMPLE.parent.parent / name / "forgery.png").read_bytes())
    page.set_input_files("#files", [str(f) for f in files])
    assert page.locator("#file-list li").count() == 3 and "obama_on_biden.png" in page.inner_text("#file-list")
    page.screenshot(path=str(shots / "upload.png"), full_page=True)
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/[A-Za-z0-9_-]{22}$"), timeout=WAIT_S * 1000)
    job_id = page.url.rsplit("/", 1)[1]
    # the job page follows the job by itself and offers each file's results as soon as it is done
    link = page.locator("#input-1 .result-link")
    link.wait_for(state="visible", timeout=WAIT_S * 1000)
    assert page.locator("#input-1 .st").inner_text() == "done"
    page.screenshot(path=str(shots / "job.png"), full_page=True)  # the others may still be running
    page.locator("#job-status.done").wait_for(timeout=WAIT_S * 1000)
    assert page.locator(".result-link:visible").count() == 3 and page.locator("#job-downloads").is_visible()
    # each file's highest fake score appears in its row as it finishes (the examples are all swaps)
    for n in (1, 2, 3):
        assert page.locator(f"#input-{n} .max-score .badge.fake").inner_text().endswith("likely swapped")
    link.click()
    page.wait_for_url(re.compile(rf"/jobs/{job_id}/inputs/1$"))
    assert page.inner_text("#result-title") == "obama_on_biden.png"
    faces = page.locator(".card.face")
    assert faces.count() >= 1
    card = faces.first
    score = float(card.get_attribute("data-score"))
    assert 0 <= score <= 1
    assert f"{score:.2f}" in card.locator(".score").inner_text()
    text = card.inner_text()
    for words in ("Recovered source", "Recovered target", "Map of the pasted identity", "Identity similarity"):
        assert words in text
    # every picture of the face card really loaded (served from the job's folder)
    for img in card.locator(".strip img").all():
        assert img.evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.locator(".pic svg rect").count() >= 1  # the face boxed on the picture
    # gallery candidates for the recovered source and target, with names from the gallery
    cands = card.locator(".gallery")
    assert {"Barack_Obama", "Joe_Biden"} <= set(re.findall(r"Barack_Obama|Joe_Biden", cands.inner_text()))
    for probe in ("source", "target"):
        assert card.locator(f'.gcol[data-probe="{probe}"] .cand').count() == 2
    page.screenshot(path=str(shots / "results.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#download-report")
    saved = tmp_path / "report.html"
    dl.value.save_as(saved)
    html = saved.read_text()
    assert "dfrec report: obama_on_biden.png" in html and "Gallery candidates" in html
    with page.expect_download() as dl:
        page.click("#download-zip")
    import zipfile

    dl.value.save_as(tmp_path / "all.zip")
    names = zipfile.ZipFile(tmp_path / "all.zip").namelist()
    assert "report/report.html" in names and "report/result.json" in names and "input/obama_on_biden.png" in names
    page.goto(server.url + "/cases")
    assert job_id[:8] in page.inner_text("#cases")
    page.screenshot(path=str(shots / "cases.png"), full_page=True)


def test_bad_file_shows_error(page, server, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_text("this is not a picture at all, just text with a .jpg name\n")
    upload_files(page, server, [bad])
    err = page.locator("#upload-error")
    err.wait_for(state="visible")
    assert "holiday.jpg: text, not an image or a video" in err.inner_text()
    assert page.url.rstrip("/") == server.url  # no job was made


def test_faceless_picture_says_so(page, server, tmp_path):
    blank = tmp_path / "wall.png"
    blank.write_bytes(png_bytes(np.full((200, 260, 3), 128, np.uint8)))
    upload_files(page, server, [blank])
    page.wait_for_url(re.compile(r"/jobs/[A-Za-z0-9_-]{22}$"), timeout=WAIT_S * 1000)
    page.locator("#input-1 .st.failed").wait_for(timeout=WAIT_S * 1000)
    assert "no face found" in page.inner_text("#input-1 .msg")
    assert page.locator("#input-1 .result-link").is_hidden()
    # delete the case: confirmed in a dialog, then it is gone from the cases and its page
    job_url = page.url
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.click("#delete-case")
    page.wait_for_url(re.compile(r"/cases\?deleted="))
    assert "cannot be undone" in asked[0]
    short = job_url.rsplit("/", 1)[1][:8]
    assert short in page.inner_text("#deleted-note") and short not in page.inner_text("main").replace(
        page.inner_text("#deleted-note"), "")
    assert page.goto(job_url).status == 404


def test_restart_keeps_the_case(page, tmp_path_factory, test_gallery):
    data = tmp_path_factory.mktemp("restart") / "data"
    first = Server(data).start()
    try:
        code, body = first.upload([("example.png", EXAMPLE.read_bytes())])
        assert code == 201, body
        job = first.wait_job(body["id"])
        assert job["status"] == "done"
    finally:
        first.stop()
    second = Server(data, "--gallery", str(test_gallery)).start(wait_ready=False)
    try:
        page.goto(second.url + "/cases")
        row = page.locator("#cases tr.case", has_text=body["id"][:8])
        assert row.count() == 1 and "done" in row.inner_text()
        row.locator("a").click()
        page.locator("#input-1 .result-link").click()
        assert page.inner_text("#result-title") == "example.png"
        assert page.locator(".card.face").count() >= 1
    finally:
        second.stop()
