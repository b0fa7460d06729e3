"""What a software encoder wrote about itself into a video stream: x264's and x265's settings.

x264 and x265 put their version and every setting they ran with, as text, into an SEI message
(``user_data_unregistered``, payload type 5: a 16-byte UUID, then the text) of the stream's first
access unit: ``x264 - core 164 r3108 31e19f9 - H.264/MPEG-4 AVC codec - ... - options: cabac=1 ref=3
... rc=crf mbtree=1 crf=23.0 qcomp=0.60 ... aq=1:1.00``. FFmpeg, HandBrake, OBS and the face-swap
tools that encode through them leave it in; a stream re-encoded by a site's own or a phone's
hardware encoder has none.

Why it matters here: x264 writes each slice header's QP as the QP of the slice's *first macroblock*
(for CABAC's initialisation), and its adaptive quantisation (``aq=1``, the default) moves that one
macroblock's QP far from the frame's: clips at CRF 23 read median slice QPs of 12 to 35 by the
content of their top-left corner (``benchmarks/video_quantiser_reading.py``). The CRF stated here
is what the encoder was told. x265 writes the frame's QP in its slice headers, which the settings
confirm.
"""

from __future__ import annotations

from typing import Any

#: The first words of the settings text of the encoders read, and their names.
ENCODER_PREFIXES = {"x264 - core": "x264", "x265 (build": "x265"}
#: At most this many characters of the settings text (x265's is about 3,000).
MAX_SETTINGS_CHARS = 8000


def sei_payloads(rbsp: bytes) -> list[tuple[int, bytes]]:
    """``[(payloadType, payload), ...]`` of an SEI NAL unit's ``rbsp`` (its payload after the NAL
    header, emulation-prevention bytes removed; ITU-T H.264 §7.3.2.3.1, H.265 §7.3.5); a message
    whose size runs past the end is cut there and ends the list."""
    out, pos = [], 0
    while pos < len(rbsp) and rbsp[pos:] != b"\x80":
        values = []
        for _ in range(2):  # payloadType, then payloadSize: runs of 0xFF, then the last byte
            value = 0
            while pos < len(rbsp) and rbsp[pos] == 0xFF:
                value, pos = value + 255, pos + 1
            if pos >= len(rbsp):
                return out
            values.append(value + rbsp[pos])
            pos += 1
        kind, size = values
        out.append((kind, rbsp[pos:pos + size]))
        if pos + size > len(rbsp):
            break
        pos += size
    return out


def parse_settings(text: str) -> dict[str, Any] | None:
    """``{"name": "x264" | "x265", "version", "rate_control", "crf", "qp", "bitrate_kbps", "aq",
    "settings"}`` from an encoder's settings ``text``; ``None`` where it is not x264's or x265's.
    ``rate_control``: ``"crf"``, ``"cqp"``, ``"abr"``, ``"cbr"``, ``"2pass"`` (x265: ``"2 pass"`` is
    written ``"2pass"`` too); ``crf`` (a float), ``qp`` (constant-QP mode's) and ``bitrate_kbps``
    (``None`` where the mode has none); ``aq``: the adaptive quantisation setting as written (x264
    ``"1:1.00"``, x265 ``"2"``), ``"0"`` when off; ``settings``: the text after ``options:``."""
    name = next((n for prefix, n in ENCODER_PREFIXES.items() if text.startswith(prefix)), None)
    if name is None:
        return None
    head, _, options = text.partition(" - options: ")
    if name == "x264":  # "x264 - core 164 r3108 31e19f9 - H.264/MPEG-4 AVC codec - ..."
        version = head.split(" - ")[1].strip() if " - " in head else ""
    else:  # "x265 (build 216) - 4.2+1-e444744:[Linux][GCC 14.2.1][64 bit] 8bit+10bit+12bit - H.265/HEVC codec - ..."
        build = head[len("x265 ("):head.find(")")]
        parts = head.split(" - ")
        version = (parts[1].split(":")[0].strip() + f" ({build})") if len(parts) > 1 else f"({build})"
    values: dict[str, str] = {}
    for token in options.split():
        key, eq, value = token.partition("=")
        if eq and key not in values:
            values[key] = value

    def number(key: str) -> float | None:
        try:
            return float(values[key])
        except (KeyError, ValueError):
            return None

    rc = values.get("rc")
    if rc == "2" and "pass" in options.split():  # x265 writes "rc=2 pass"
        rc = "2pass"
    crf, qp, bitrate = number("crf"), number("qp"), number("bitrate")
    aq = values.get("aq", values.get("aq-mode"))
    return {"name": name, "version": version, "rate_control": rc,
            "crf": crf if rc == "crf" else None, "qp": qp if rc == "cqp" else None,
            "bitrate_kbps": bitrate if rc in ("abr", "cbr", "2pass") else None,
            "aq": aq, "settings": options.strip()[:MAX_SETTINGS_CHARS]}


def encoder_settings(rbsp: bytes) -> dict[str, Any] | None:
    """:func:`parse_settings` of the first x264 or x265 settings text among the
    ``user_data_unregistered`` messages of an SEI NAL unit's ``rbsp``; ``None`` where there is none."""
    for kind, payload in sei_payloads(rbsp):
        if kind == 5 and len(payload) > 16:
            text = payload[16:].split(b"\x00", 1)[0].decode("latin-1")
            if (found := parse_settings(text)) is not None:
                return found
    return None


def encoder_words(encoder: dict[str, Any]) -> str:
    """``"x264 core 164 at CRF 23"``, ``"x265 4.2 (build 216) at a constant QP of 30"``, ``"x264 core 164
    at an average 300 kbit/s"``: what a :func:`parse_settings` result says, in a report's words."""
    who = f"{encoder['name']} {encoder.get('version') or ''}".strip()
    rc = encoder.get("rate_control")
    if encoder.get("crf") is not None:
        return f"{who} at CRF {encoder['crf']:g}"
    if encoder.get("qp") is not None:
        return f"{who} at a constant QP of {encoder['qp']:g}"
    if encoder.get("bitrate_kbps") is not None:
        how = {"cbr": " at a constant", "2pass": " in two passes at", "abr": " at an average"}.get(rc, " at")
        return f"{who}{how} {encoder['bitrate_kbps']:g} kbit/s"
    return who


#: Metadata names (:mod:`dfrec.video_metadata`) that say which camera or phone recorded a video:
#: its maker, then its model.
DEVICE_MAKE_KEYS = ("com.apple.quicktime.make", "com.android.manufacturer", "Make")
DEVICE_MODEL_KEYS = ("com.apple.quicktime.model", "com.android.model", "Model")


def software_encoder_note(encoder: dict[str, Any] | None, metadata: dict[str, str] | None) -> str | None:
    """A report's note where a video stream states it was encoded by x264 or x265 (software that
    FFmpeg, HandBrake, OBS, editors and face-swap tools run; phones and cameras record with encoders
    of their own), sharper where the container's metadata names a camera or phone as the maker;
    ``None`` for a stream that states no such encoder."""
    if not encoder or encoder.get("name") not in ENCODER_PREFIXES.values():
        return None
    note = (f"The video stream was encoded by {encoder['name']}, a software encoder that FFmpeg, HandBrake, OBS, "
            f"video editors and face-swap tools run ({encoder_words(encoder)}, as it wrote into the stream); phones "
            "and cameras record with encoders of their own, so this stream was made or re-encoded by software")
    metadata = metadata or {}
    make = next((metadata[k] for k in DEVICE_MAKE_KEYS if metadata.get(k)), "")
    model = next((metadata[k] for k in DEVICE_MODEL_KEYS if metadata.get(k)), "")
    device = f"{make} {model}".strip() if not model.lower().startswith(make.lower()) else model
    if device or "com.android.version" in metadata:
        device = device or "an Android phone"
        note += (f", although the file's metadata names {device} as the device that recorded it: the video was "
                 "re-encoded after it left that device, or the tags were copied from another file")
    return note + "."
