"""The output folder of ``dfrec recover``, kept true through kills, reruns and concurrent runs.

- **One writer.** :meth:`ResultStore.open` takes an exclusive lock (``OUT/.dfrec/lock``,
  ``flock``: released by the kernel when the process ends, even on SIGKILL); a second run
  into the same folder stops at once with a message naming the first one's process id.
- **Results as a unit.** Each input's files are written into a staging folder under
  ``OUT/.dfrec/staging/`` and renamed into place only when complete (:meth:`commit`), so a
  result folder always holds exactly the files its ``result.json`` lists. An earlier result
  of the same name is moved aside first and deleted after.
- **Resume.** :meth:`done` finds a finished result for an input: same input SHA-256, same
  settings, same model files (dlib's too), dfrec version and report layout, and files that still
  match their hashes.
- **Clean-up.** Opening the store deletes what killed runs left: staging folders, results
  moved aside, and ``.NAME.XXXXXXXX.tmp`` files of interrupted atomic writes.

Result folders never nest (see :func:`dfrec.cli.recover.collect_inputs`), so replacing one
never touches another.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

from dfrec._faults import crashpoint
from dfrec.errors import InputError, OutputError, shown
from dfrec.io import hold_lock, prepare_output_dir, remove_temp_files, sha256_file

#: Work area inside the output folder (hidden; never scanned as input or listed as a result).
WORK = ".dfrec"
RESULT = "result.json"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_result(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The ``result.json`` of a folder as a dict, or ``None`` when absent or unreadable."""
    try:
        doc = json.loads((Path(folder) / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def verify_folder(folder: str | os.PathLike, result: dict[str, Any] | None = None) -> list[str]:
    """Problems of a result folder, empty when it is true: the files beside ``result.json``
    are exactly those its ``outputs`` list, with the listed sizes and SHA-256."""
    folder = Path(folder)
    result = result if result is not None else read_result(folder)
    if result is None:
        return [f"{RESULT} missing or unreadable"]
    listed = {o.get("path"): o for o in result.get("outputs", []) if isinstance(o, dict)}
    try:
        on_disk = {p.name for p in folder.iterdir() if p.name != RESULT}
    except OSError as e:
        return [f"cannot list the folder ({e.strerror})"]
    problems = [f"{shown(n)}: not listed in {RESULT}" for n in sorted(on_disk - set(listed))]
    problems += [f"{shown(n)}: listed in {RESULT} but missing" for n in sorted(set(listed) - on_disk)]
    for name in sorted(on_disk & set(listed)):
        p = folder / name
        if not p.is_file():
            problems.append(f"{shown(name)}: not a file")
        elif p.stat().st_size != listed[name].get("bytes") or sha256_file(p) != listed[name].get("sha256"):
            problems.append(f"{shown(name)}: size or SHA-256 differs from {RESULT}")
    return problems


#: what a changed part of :func:`run_key` means, for :meth:`ResultStore.why_not_done`
KEY_WORDS = {"settings": "other settings", "model_files": "another model", "checkpoint": "another model",
             "dlib_files": "other dlib model files", "dfrec_version": "another dfrec version",
             "report_format": "an older report layout",
             "gallery": "another gallery or gallery state"}


def run_key(result: dict[str, Any]) -> dict[str, Any]:
    """What must match for a stored result to stand for a new run of the same input: the
    input's SHA-256, the settings, the model files' hashes (dlib's included), the dfrec version and
    the report layout (:data:`dfrec.report.writer.REPORT_FORMAT`; None for results from before it)."""
    model = result.get("model") or {}
    key = {
        "input_sha256": (result.get("input") or {}).get("sha256"),
        "settings": result.get("settings"),
        "model_files": [[f.get("path"), f.get("sha256")] for f in model.get("files", []) if isinstance(f, dict)],
        "dlib_files": [[f.get("role"), f.get("sha256")] for f in model.get("dlib_files", []) if isinstance(f, dict)],
        "checkpoint": model.get("checkpoint"),
        "dfrec_version": result.get("dfrec_version"),
        "report_format": result.get("report_format"),
        "gallery": result.get("gallery"),  # folder, size and update time of a gallery searched
    }
    return json.loads(json.dumps(key, default=str))  # as it reads back from result.json


class ResultStore:
    """An output folder: lock, staging, commit, resume look-ups and the list of results.

    ``index_files`` (the batch summary) describe the results; the first :meth:`commit` of a
    run deletes them, so that after a kill there is no index rather than a stale one (the
    next run rebuilds it from the result folders)."""

    index_files = ("summary.json", "summary.html")

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.work = self.root / WORK
        self._lock_fd: int | None = None
        self._index_dropped = False
        self.cleaned: list[Path] = []
        self.previous_index: dict[str, Any] = {}  # summary.json as it was when the store opened

    # -- life cycle --------------------------------------------------------------------------
    def open(self) -> "ResultStore":
        """Create and lock the folder, then clear what killed runs left. Raises
        :class:`OutputError` when it cannot be written or another run holds it."""
        prepare_output_dir(self.root)
        try:
            self.work.mkdir(exist_ok=True)
            for sub in ("staging", "trash"):
                (self.work / sub).mkdir(exist_ok=True)
        except OSError as e:
            raise OutputError(f"{shown(self.work)}: cannot create dfrec's work folder ({e.strerror})") from None
        self._lock()
        self.cleaned = self._clean()
        try:
            doc = json.loads((self.root / self.index_files[0]).read_text(encoding="utf-8"))
            self.previous_index = doc if isinstance(doc, dict) else {}
        except (OSError, ValueError):
            self.previous_index = {}
        return self

    def close(self) -> None:
        """Release the lock (the process ending releases it too)."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "ResultStore":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _lock(self) -> None:
        self._lock_fd = hold_lock(self.work / "lock", f"{shown(self.root)}: another dfrec run ({{holder}}) is writing "
                                  "to this folder; wait for it to finish or choose another -o")

    def _clean(self) -> list[Path]:
        """Remove staging folders, results moved aside and temp files of killed runs."""
        gone: list[Path] = []
        for sub in ("staging", "trash"):
            for p in sorted((self.work / sub).iterdir()):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink()
                gone.append(p)
        gone += remove_temp_files(self.root)
        return gone

    # -- writing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def staged(self, name: str | os.PathLike) -> Iterator[Path]:
        """Yield an empty staging folder; when the block ends without an exception, its
        content becomes ``OUT/name`` in one rename (:meth:`commit`). On an exception the
        staging folder is deleted and any earlier ``OUT/name`` stays as it was."""
        stage = self.work / "staging" / uuid.uuid4().hex
        stage.mkdir()
        try:
            yield stage
            self.commit(stage, name)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)

    def commit(self, stage: Path, name: str | os.PathLike) -> Path:
        """Move a complete staging folder to ``OUT/name``, replacing an earlier result there."""
        final = self.root / name
        self.check_replaceable(name)
        if not self._index_dropped:
            for index in self.index_files:
                (self.root / index).unlink(missing_ok=True)
            _fsync_dir(self.root)
            self._index_dropped = True
        final.parent.mkdir(parents=True, exist_ok=True)
        _fsync_dir(stage)
        old = None
        if final.exists() or final.is_symlink():
            old = self.work / "trash" / uuid.uuid4().hex
            os.replace(final, old)
            crashpoint("commit-swap")
        os.replace(stage, final)
        _fsync_dir(final.parent)
        crashpoint("commit-done")
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def check_replaceable(self, name: str | os.PathLike) -> None:
        """Raise :class:`InputError` when ``OUT/name`` exists but is not something dfrec wrote
        (a file, a link, or a folder without a ``result.json`` or with sub-folders): dfrec never
        deletes what it did not create."""
        final = self.root / name
        for parent in list(Path(name).parents)[:-1]:
            if (self.root / parent / RESULT).exists():
                raise InputError(f"{shown(self.root / parent)} is the result folder of another input; "
                                 f"cannot write {shown(final)} inside it (choose another -o)")
        if not (final.exists() or final.is_symlink()):
            return
        if final.is_symlink() or not final.is_dir():
            raise InputError(f"{shown(final)} exists and is not a dfrec result folder; not replaced "
                             "(move it away or choose another -o)")
        entries = list(final.iterdir())
        if entries and (read_result(final) is None or any(p.is_dir() for p in entries)):
            raise InputError(f"{shown(final)} exists and is not a dfrec result folder; not replaced "
                             "(move it away or choose another -o)")

    # -- reading ------------------------------------------------------------------------------
    def lookup(self, name: str | os.PathLike, key: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """``(result, why)`` for ``OUT/name``, its files hashed once: the stored result if it was
        made from the same input, settings, model and dfrec version (``key``, see :func:`run_key`)
        and its files still match (``why`` None); else None and why it does not
        (:meth:`why_not_done`; None too when nothing is stored there)."""
        result = read_result(self.root / name)
        if result is None:
            return None, None
        why = self.why_not_done(name, key, result)
        return (result if why is None else None), why

    def why_not_done(self, name: str | os.PathLike, key: dict[str, Any],
                     result: dict[str, Any] | None = None) -> str | None:
        """Why the result at ``OUT/name`` does not stand for a run of ``key``, e.g. ``"made from a
        different input (sha256 1a2b3c4d...)"`` or ``"its files no longer match result.json
        (face1_map.png: size or SHA-256 differs from result.json)"``; None when there is no
        result there or it stands."""
        folder = self.root / name
        result = result if result is not None else read_result(folder)
        if result is None:
            return None
        old = run_key(result)
        if old["input_sha256"] != key.get("input_sha256"):
            return f"made from a different input (sha256 {str(old['input_sha256'])[:8]}...)"
        changed = list(dict.fromkeys(word for k, word in KEY_WORDS.items() if old.get(k) != key.get(k)))
        if changed:
            return "made with " + ", ".join(changed)
        problems = verify_folder(folder, result)
        if problems:
            more = f"; {len(problems) - 2} more" if len(problems) > 2 else ""
            return f"its files no longer match {RESULT} ({'; '.join(problems[:2])}{more})"
        return None

    def results(self) -> list[tuple[Path, dict[str, Any], list[str]]]:
        """Every result folder under the root: ``(folder, result, problems)``, by folder name."""
        found = []
        for dirpath, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if RESULT in files and Path(dirpath) != self.root:
                folder = Path(dirpath)
                result = read_result(folder)
                found.append((folder, result or {}, verify_folder(folder, result)))
        return sorted(found, key=lambda t: t[0].relative_to(self.root).as_posix())
