"""Training: losses (paper Algorithms 1 and 2), steps, loop, checkpoints."""
