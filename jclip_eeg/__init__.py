"""jclip-eeg: DistilCLIP-EEG in JAX/Flax NNX (data, models, training, evaluation)."""

__version__ = "0.1.0"
