"""Exception types shared by every stage.

The CLI prints any :class:`T2SError` as a one-line (or short multi-line) message
without a traceback: these are the user's problems to fix (a bad path, a bad
config key), not bugs in t2s.
"""


class T2SError(Exception):
    """Base class for errors whose message is meant for the user."""


class ConfigError(T2SError):
    """The configuration is invalid; the message lists every problem found."""


class DataError(T2SError):
    """A dataset file, database or record is missing or malformed."""


class DatabaseUnavailableError(DataError):
    """A database server cannot be reached or dropped the connection: no verdict on any SQL."""


class InputError(T2SError):
    """A user-supplied input file (predictions, questions) is malformed."""
