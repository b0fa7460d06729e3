"""Forensic reports of ``dfrec recover``: per-input ``report.html`` + ``result.json`` and a batch summary.

- :mod:`dfrec.report.provenance`: SHA-256 records of inputs, outputs and model files; environment.
- :mod:`dfrec.report.html`: self-contained HTML pages (images inline, no network).
- :mod:`dfrec.report.writer`: writes one input's folder (PNGs, report.html, result.json).
- :mod:`dfrec.report.summary`: ``summary.json`` / ``summary.html`` indexing a batch.
"""
