"""Models: EEG Conformer, BERT-LP text encoder, the CLIP teacher and the distilled student."""

from jclip_eeg.models.class_prompts import class_prompts
from jclip_eeg.models.clip import (CLIPModel, StudentModel, build_model, compute_dtype, count_params,
                                   prediction_logits, trainable_filter)
from jclip_eeg.models.conformer import Conformer, build_conformer, n_tokens
from jclip_eeg.models.params import Prompt

__all__ = [
    "CLIPModel", "Conformer", "Prompt", "StudentModel", "build_conformer", "build_model", "class_prompts",
    "compute_dtype", "count_params", "n_tokens", "prediction_logits", "trainable_filter",
]
