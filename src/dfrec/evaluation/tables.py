"""Result tables: one :class:`Table` per paper table, written as Markdown, CSV and JSON.

Every table carries ``notes`` — which networks were substituted, sample counts, settings —
printed under it in Markdown and kept in the JSON, so no number travels without its
provenance.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfrec.io import write_json_atomic, write_text_atomic


@dataclass
class Table:
    """A titled table: ``columns`` (ordered keys), ``rows`` (dicts), ``notes`` (lines)."""

    key: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)

    def add(self, **row: Any) -> None:
        self.rows.append(row)

    def _fmt(self, col: str, v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            if math.isnan(v):
                return "n/a"
            return format(v, self.formats.get(col, ".3f"))
        return str(v)

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        for r in self.rows:
            lines.append("| " + " | ".join(self._fmt(c, r.get(c)) for c in self.columns) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in self.columns})
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and math.isnan(v) else v

        return {"title": self.title, "columns": self.columns, "notes": self.notes,
                "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows]}


def write_tables(out_dir: str | os.PathLike, tables: list[Table], header: str = "",
                 extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``tables.md`` (all tables), ``<key>.csv`` per table and ``results.json``
    (tables + ``extra``) into ``out_dir`` atomically; returns the paths by name."""
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    md = (header.rstrip() + "\n\n" if header else "") + "\n".join(t.to_markdown() for t in tables)
    paths["markdown"] = write_text_atomic(out / "tables.md", md)
    for t in tables:
        paths[t.key] = write_text_atomic(out / f"{t.key}.csv", t.to_csv())
    doc = {"tables": {t.key: t.to_dict() for t in tables}}
    doc.update(extra or {})
    paths["json"] = write_json_atomic(out / "results.json", doc, nan_as_null=True)  # NaN = not measured
    return paths
