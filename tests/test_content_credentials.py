"""dfrec.content_credentials: C2PA manifests signed here with the CAI's own library (a test root
and signer made with ``cryptography``), read back and checked: what made the file, what it declares,
an edit after signing, an unreadable manifest, none at all; and what the report says."""

from __future__ import annotations

import io

import pytest

from c2pa_signing import sign
from needs import need_module
from dfrec.content_credentials import credentials_note, credentials_words, read_content_credentials


def jpeg(astronaut) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(astronaut[:256, 100:356]).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_a_generated_picture_declares_itself_and_an_edit_after_signing_shows(c2pa_signer, astronaut, tmp_path):
    path = tmp_path / "generated.jpg"
    path.write_bytes(sign(c2pa_signer, jpeg(astronaut), "image/jpeg", "trainedAlgorithmicMedia"))
    cc = read_content_credentials(path)
    assert cc["validation"] == "valid" and cc["problems"] == []
    assert cc["claim_generator"] == "dfrec-tests 1.0" and cc["title"] == "picture" and cc["manifests"] == 1
    assert cc["signer"]["issuer"] == "dfrec tests" and cc["signer"]["common_name"] == "dfrec test signer"
    assert cc["actions"] == [{"action": "c2pa.created", "source_type": "trainedAlgorithmicMedia",
                              "software_agent": "Some Image Model 2", "when": None}]
    assert cc["source_type"] == "trainedAlgorithmicMedia" and cc["generated"] is True
    note = credentials_note(cc)
    assert note.startswith("The file's Content Credentials (C2PA) declare that it was made by a generative model "
                           "(IPTC digital source type trainedAlgorithmicMedia): signed by dfrec tests")
    assert "the file is unchanged since it was signed" in note and "trust list" in note

    data = bytearray(path.read_bytes())
    data[-300] ^= 0xFF  # a pixel's bytes changed after signing
    edited = tmp_path / "edited.jpg"
    edited.write_bytes(bytes(data))
    cc = read_content_credentials(edited)
    assert cc["validation"] == "invalid" and any(p.startswith("assertion.dataHash.mismatch") for p in cc["problems"])
    assert "the check FAILED (assertion.dataHash.mismatch" in credentials_note(cc)
    assert not any("untrusted" in p for p in cc["problems"])  # no trust list here: not a problem of the file


@pytest.mark.parametrize("mime, suffix, source, generated", [
    ("image/png", ".png", "digitalCapture", False),
    ("image/jpeg", ".jpg", "compositeWithTrainedAlgorithmicMedia", True),
    ("image/webp", ".webp", "digitalCreation", False),
])
def test_formats_and_source_types(c2pa_signer, astronaut, tmp_path, mime, suffix, source, generated):
    """A camera's picture (digitalCapture) or a person's drawing is not noted, a composite with
    generated parts is; PNG and WebP carry manifests too."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(astronaut[:128, :128]).save(buf, {"image/png": "PNG", "image/webp": "WEBP"}.get(mime, "JPEG"))
    path = tmp_path / f"picture{suffix}"
    path.write_bytes(sign(c2pa_signer, buf.getvalue(), mime, source))
    cc = read_content_credentials(path)
    assert cc["validation"] == "valid" and cc["source_type"] == source and cc["generated"] is generated
    assert (credentials_note(cc) is not None) is generated
    words = credentials_words(cc)
    assert words.startswith("signed by dfrec tests, written by dfrec-tests 1.0")
    assert ("recorded by a camera" in words) is (source == "digitalCapture")


def test_no_credentials_and_unreadable_ones(astronaut, tmp_path, fixture_dir):
    """A photo without a manifest, a transport stream (not a C2PA format), a missing file: none; a
    manifest cut in half: "unreadable", with the library's words, and a note."""
    need_module("c2pa")
    assert read_content_credentials(fixture_dir / "obama.jpg") is None
    (tmp_path / "x.ts").write_bytes(b"\x47" + bytes(187) * 1)
    assert read_content_credentials(tmp_path / "x.ts") is None
    assert read_content_credentials(tmp_path / "missing.jpg") is None
    assert credentials_note(None) is None


def test_a_damaged_manifest_reads_as_unreadable(c2pa_signer, astronaut, tmp_path):
    data = bytearray(sign(c2pa_signer, jpeg(astronaut), "image/jpeg", "trainedAlgorithmicMedia"))
    at = data.find(b"c2pa.actions")
    data[at:at + 400] = bytes(400)  # the manifest's middle zeroed
    path = tmp_path / "damaged.jpg"
    path.write_bytes(bytes(data))
    cc = read_content_credentials(path)
    assert cc is not None and cc["validation"] in ("unreadable", "invalid") and cc["problems"]
    assert credentials_note(cc).startswith("The file carries Content Credentials (C2PA): ")
