"""The one exception type users see: a single line naming the file or field at fault."""


class LfeError(Exception):
    """A user-facing error. The CLI prints `error: <message>` and exits non-zero, no traceback."""
