"""A run on disk, read back: its data split, checkpoints and finished stages (for training, evaluation, export)."""
