"""The ``quickdraw_sketch_rnn`` TFDS dataset: importing this package registers the builder."""

from .quickdraw_sketch_rnn_dataset_builder import (
    CATEGORIES,
    QuickdrawSketchRnn,
    QuickdrawSketchRnnConfig,
    category_url,
    config_for_categories,
)

__all__ = ["CATEGORIES", "QuickdrawSketchRnn", "QuickdrawSketchRnnConfig", "category_url",
           "config_for_categories"]
