"""The one exception type users see: a single line naming the file or field at fault."""


class LfeError(Exception):
    """A user-facing error. The CLI prints `error: <message>` and exits non-zero, no traceback.

    The message is kept to one line here, once for all callers: a file name or a data value may
    itself contain a newline (valid in TOML strings), which is shown escaped."""

    def __init__(self, message: str):
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


# The end of every "the file system refused a write" message (store/db.py, workspace.py).
WRITE_REFUSED_HINT = ("every stage committed before is kept — free space (or make the workspace writable) "
                      "and run again to continue")
