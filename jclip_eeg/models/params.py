"""Parameter kinds that optimisers and freezing rules select by type."""

from flax import nnx


class Prompt(nnx.Param):
  """A learnable prompt vector (EEG-LP tokens, BERT-LP context and deep prompts)."""
