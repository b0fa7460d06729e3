"""Exception types with messages meant for the user (one clear line, no traceback).

Every error dfrec raises on purpose derives from :class:`DfrecError`; the CLI prints
``dfrec: error: <message>`` for these and exits non-zero.
"""


class DfrecError(Exception):
    """Base class for errors whose message is shown to the user as is."""

    exit_code = 1


class InputError(DfrecError):
    """An input file is missing, unreadable, truncated, not an image, or too large."""

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
