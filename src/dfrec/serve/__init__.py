"""``dfrec serve``: a local web app for investigators (upload -> live progress -> results).

- :mod:`dfrec.serve.config`: :class:`ServeConfig` (limits, host/port, token).
- :mod:`dfrec.serve.app`: the FastAPI app (pages, files, JSON API, security checks).
- :mod:`dfrec.serve.intake`: an upload becomes a queued case (checks, storage).
- :mod:`dfrec.serve.supervisor`: starts, restarts and stops the worker process.
- :mod:`dfrec.serve.jobs`: jobs and inputs in SQLite (queue, progress, restart recovery).
- :mod:`dfrec.serve.lock`: one server per data folder (``DATA/serve.lock``).
- :mod:`dfrec.serve.worker`: the worker process (model loaded once; reports per input).
- :mod:`dfrec.serve.uploads`: content sniffing and safe stored names.
- :mod:`dfrec.serve.pages`: the HTML.
- :mod:`dfrec.serve.server`: binding and running uvicorn.

The web process never imports torch; the analysis runs in the worker process.
"""
