"""Text generation engines: chat prompts in, texts out. They know nothing of tasks."""

from .base import ChatEngine, Generation

__all__ = ["ChatEngine", "Generation"]
