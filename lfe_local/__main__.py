"""`python -m lfe_local` is the `lfe` command."""

from .cli import app

app(prog_name="lfe")
