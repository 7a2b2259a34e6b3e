"""Model-free checks on generated samples: equations, program agreement, duplicates, test-set overlap."""
