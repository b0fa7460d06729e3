"""What dfrec can tell of a picture or video file without analysing its faces (``dfrec inspect``):
the same ``input`` record, notes and compression caveat a report would hold, in a second or less.

How it was encoded (a JPEG's tables, a WebP's, HEIC's or AVIF's quantisers, a video's codec,
quantiser and encoder settings), what its metadata or container says made it, its Content
Credentials checked, and the earlier JPEG saves its pixels still show. Nothing here runs the model.
"""

from __future__ import annotations

import os
from typing import Any

from dfrec.io import media_kind, read_image
from dfrec.report.describe import input_rows
from dfrec.report.writer import image_input, video_input
from dfrec.results import compression_caveat
from dfrec.video import video_info


def inspect_file(path: str | os.PathLike) -> dict[str, Any]:
    """``{"input"`` (the record a report of the file would hold: :func:`dfrec.report.writer.image_input`,
    :func:`~dfrec.report.writer.video_input`), ``"notes"`` (what a report would say of the file),
    ``"caveat"`` (the ``<codec>_compressed`` caveat its faces would carry, :func:`dfrec.results.compression_caveat`,
    or ``None``), ``"rows"`` (``[[label, text or {name: text}], ...]``, :func:`dfrec.report.describe.input_rows`)}.
    Raises :class:`dfrec.errors.InputError` for a file that is neither a picture nor a video dfrec reads."""
    if media_kind(path) == "video":
        record, notes, saved = video_input(path, video_info(path))
    else:
        record, notes, saved = image_input(path, read_image(path))
    caveat = compression_caveat(*saved) if saved else None
    return {"input": record, "notes": notes, "caveat": caveat,
            "rows": [[label, value] for label, value in input_rows(record)]}
