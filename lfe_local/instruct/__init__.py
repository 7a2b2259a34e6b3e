"""Instructor prompts and structured replies: errors in, candidate training samples out."""
