"""Trainers: accepted samples in, a LoRA adapter out."""
