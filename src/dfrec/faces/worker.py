"""Face detection in a child process, so that a crash in native code costs one file, not a batch.

dlib is C++: a bug it hits on some input (a read outside a buffer, a corrupted heap) kills
the whole Python process with SIGSEGV or SIGABRT, and nothing can catch that in-process.
:class:`IsolatedDetector` runs :meth:`dfrec.faces.detect.FaceDetector.detect` in a worker
process (``python -m dfrec.faces.worker``) that talks over its stdin/stdout pipes. When
the worker dies, the image it was working on fails with one line,
:class:`DetectorCrash`, and the next image starts a fresh worker.

    >>> with IsolatedDetector(FaceDetector(upsample=1)) as det:
    ...     faces = det.detect(image)          # same result as FaceDetector.detect

Anything the native code prints goes to a private log file, never to the user's terminal.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dfrec.errors import DfrecError, InputError

_HEADER = struct.Struct("<Q")


class DetectorCrash(InputError):
    """The face detector's worker process died (a crash in native code) on one image."""


class WorkerStartError(DfrecError):
    """The worker process could not start at all (a broken install, not a bad input)."""


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=5)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream: BinaryIO) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("worker pipe closed")
    (n,) = _HEADER.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("worker pipe closed")
    return pickle.loads(data)


def signal_name(returncode: int | None) -> str:
    """``-11`` -> ``SIGSEGV``; a positive code -> ``exit status N``."""
    if returncode is None:
        return "unknown status"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


class IsolatedDetector:
    """A :class:`~dfrec.faces.detect.FaceDetector` whose native code runs in a child process.

    ``detect(image)`` returns what ``detector.detect(image)`` would. If the worker dies on
    an image, that call raises :class:`DetectorCrash` (an :class:`InputError`: the batch
    skips the file) and the next call starts a new worker. ``crashes`` counts them. The
    worker starts on first use and stops at :meth:`close` (or when this process exits).
    """

    def __init__(self, detector: Any = None) -> None:
        from dfrec.faces.detect import FaceDetector

        self.detector = detector if detector is not None else FaceDetector()
        self.crashes = 0
        self._proc: subprocess.Popen | None = None
        self._log: Any = None

    def __repr__(self) -> str:
        return f"IsolatedDetector({self.detector!r})"

    # -- worker life cycle ---------------------------------------------------------------
    def _start(self) -> None:
        import dfrec

        env = dict(os.environ)
        src = str(Path(dfrec.__file__).resolve().parents[1])  # the dfrec this process runs
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
        self._log = tempfile.TemporaryFile(prefix="dfrec-detector-", suffix=".log")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "dfrec.faces.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
            start_new_session=True,  # Ctrl-C reaches this process only; it stops the worker
        )
        try:
            _send(self._proc.stdin, self.detector)
            ready = _recv(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            ready = None
        if ready != "ready":
            why = signal_name(self._proc.wait())
            tail = self.log_tail()
            self._stop()
            raise WorkerStartError(f"the face-detection worker process did not start ({why})"
                                   + (f"; its last message: {tail}" if tail else ""))

    def log_tail(self, lines: int = 1) -> str:
        """The last line(s) the worker wrote to its log (native messages), for ``--debug``."""
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop the worker (it also stops by itself when this process ends)."""
        self._stop()

    def __enter__(self) -> "IsolatedDetector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self._stop()
        except Exception:
            pass

    # -- detection -------------------------------------------------------------------------
    def detect(self, image: Any) -> list:
        """Faces in ``image`` (see :meth:`FaceDetector.detect`), detected in the worker."""
        from dfrec.faces.detect import check_geometry
        from dfrec.io import as_rgb_uint8

        img = as_rgb_uint8(image)
        check_geometry(img.shape)  # refuse known-bad geometry without a round trip
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            self._start()
        try:
            _send(self._proc.stdin, np.ascontiguousarray(img))
            kind, payload = _recv(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            code = self._proc.wait()
            self.crashes += 1
            self._stop()
            raise DetectorCrash(
                f"the face detector (native dlib code) crashed on this image ({signal_name(code)}); "
                "the file was skipped"
            ) from None
        if kind == "ok":
            return payload
        cls, message = payload
        raise {"InputError": InputError, "DfrecError": DfrecError}.get(cls, DfrecError)(message)

    __call__ = detect


def _serve() -> int:
    """The worker's loop: read the detector, then images; answer faces or an error."""
    out = os.fdopen(os.dup(1), "wb")  # the protocol's channel ...
    os.dup2(2, 1)  # ... and anything printed to stdout (by native code too) goes to the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    inp = sys.stdin.buffer
    from dfrec.errors import InputError as _InputError

    detector = _recv(inp)
    detector.load()
    _send(out, "ready")
    while True:
        try:
            image = _recv(inp)
        except EOFError:
            return 0
        try:
            reply = ("ok", detector.detect(image))
        except _InputError as e:
            reply = ("error", ("InputError", str(e)))
        except DfrecError as e:
            reply = ("error", ("DfrecError", str(e)))
        except MemoryError:
            reply = ("error", ("InputError", "out of memory while detecting faces"))
        except Exception as e:  # translated: the raw text stays in the log
            print(f"detector error: {e!r}", file=sys.stderr)
            reply = ("error", ("DfrecError", f"internal error in the face detector ({e.__class__.__name__})"))
        _send(out, reply)


if __name__ == "__main__":
    sys.exit(_serve())
