"""Loaded by the face-detection worker process in tests (this folder is put on its
PYTHONPATH): images exactly ``DFREC_TEST_CRASH_WIDTH`` pixels wide make the detector read
address 0, a real SIGSEGV in the worker, as a native bug would cause."""

import os

if os.environ.get("DFREC_TEST_CRASH_WIDTH"):
    import ctypes

    import numpy as np

    import dfrec.faces.detect as _detect

    _width = int(os.environ["DFREC_TEST_CRASH_WIDTH"])
    _original = _detect.FaceDetector.detect

    def _detect_or_crash(self, image):
        if np.asarray(image).shape[1] == _width:
            ctypes.string_at(0)  # SIGSEGV
        return _original(self, image)

    _detect.FaceDetector.detect = _detect_or_crash
