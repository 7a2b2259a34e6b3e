"""lfe-local: learning from errors, locally."""

__version__ = "0.1.0"
