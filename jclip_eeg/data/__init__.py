"""Data path: raw files -> readers -> preprocessing -> pre-epoched store -> Grain loader."""

from jclip_eeg.data.store import EpochStore, StoreWriter

__all__ = ["EpochStore", "StoreWriter"]
