"""Exception types with messages meant for the user (one clear line, no traceback).

Every error dfrec raises on purpose derives from :class:`DfrecError`; the CLI prints
``dfrec: error: <message>`` for these and exits with the class's ``exit_code``:

====  ==================================================================================
0     success (a batch: at least one input processed; the others are listed with reasons)
1     internal error: a bug in dfrec or a library it uses (``--debug`` shows the traceback)
2     bad input or arguments: a missing, unreadable, unsupported or refused file, an invalid
      option value, an output folder that cannot be used or is in use by another run, a file
      that cannot be read or written (permission denied, disk full)
3     no face found (in every input of a batch)
4     model checkpoint missing, truncated or not matching its config
5     configuration file or value wrong
130   interrupted (Ctrl-C)
====  ==================================================================================

Messages name the file first: ``path: reason``, on one line. Text from native code or
libraries (dlib's C++ assertions, OS error numbers, pybind11 signatures) is translated by
:func:`describe` before it reaches the user.
"""

from __future__ import annotations

import errno as _errno
import re

#: ``dfrec --help`` and docs/recover.md list these (code, meaning).
EXIT_CODES = (
    (0, "success (a batch: at least one input processed; the others are listed with reasons)"),
    (1, "internal error: a bug in dfrec or a library it uses (--debug shows the traceback)"),
    (2, "bad input or arguments: a missing, unreadable, unsupported or refused file, an invalid option "
        "value, an output folder that cannot be used or is in use by another run, a file that cannot be "
        "read or written (permission denied, disk full)"),
    (3, "no face found (in every input of a batch)"),
    (4, "model checkpoint missing, truncated or not matching its config"),
    (5, "configuration file or value wrong"),
    (130, "interrupted (Ctrl-C)"),
)


class DfrecError(Exception):
    """Base class for errors whose message is shown to the user as is."""

    exit_code = 1


class InputError(DfrecError):
    """An input file is missing, unreadable, truncated, not an image, or too large."""

    exit_code = 2


class OutputError(DfrecError):
    """An output folder cannot be used: not a folder, not writable, or in use by another run."""

    exit_code = 2


class NoFaceError(DfrecError):
    """No face was found in an image."""

    exit_code = 3


class CheckpointError(DfrecError):
    """A checkpoint is missing, truncated, corrupt, or does not match the model config."""

    exit_code = 4


class ConfigError(DfrecError):
    """A configuration file or value is wrong (unknown key, bad type, bad range)."""

    exit_code = 5


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: object) -> str:
    """``text`` made safe for one line of a terminal: control characters (a newline in a file
    name) and undecodable bytes (surrogate escapes) written as ``\\n``, ``\\x1b``, ``\\udcff``."""
    s = str(text)
    s = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        s = "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else f"\\udc{ord(c) & 0xFF:02x}" for c in s)
    return s


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, for any exception, without library-internal text.

    :class:`DfrecError` messages are already meant for users and pass through; operating-
    system errors become their plain meaning (``permission denied``); anything else is
    named by its class only, as an internal error (run with ``--debug`` to see it).
    """
    if isinstance(exc, DfrecError):
        return shown(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OSError) and exc.errno is not None:
        what = {
            _errno.EACCES: "permission denied",
            _errno.EPERM: "operation not permitted",
            _errno.ENOENT: "no such file or folder",
            _errno.ENOSPC: "no space left on the device",
            _errno.EROFS: "read-only file system",
            _errno.EISDIR: "is a folder",
            _errno.ENOTDIR: "a part of the path is not a folder",
            _errno.EEXIST: "already exists",
            _errno.ENAMETOOLONG: "file name too long",
            _errno.ELOOP: "too many levels of symbolic links",
            _errno.EIO: "input/output error",
            _errno.EDQUOT: "disk quota exceeded",
        }.get(exc.errno) or (exc.strerror or "operating-system error").lower()
        name = getattr(exc, "filename", None)
        return f"{shown(name)}: {what}" if name else what
    text = str(exc)
    if "Error detected" in text or "dlib" in text:
        return "the face detector (dlib) could not process this input"
    if exc.__class__.__module__.startswith("cv2"):
        return "OpenCV could not process this input"
    return f"internal error ({exc.__class__.__name__}); run with --debug for the traceback"
