"""The quickdraw_sketch_rnn TFDS builder: fake files in dummy_data, real shared files, errors."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from support import EXPERIMENTS, SHARED, require_tensorflow, shared_path

require_tensorflow()
sys.path.insert(0, str(EXPERIMENTS))

import tensorflow_datasets as tfds  # noqa: E402

import quickdraw_sketch_rnn  # noqa: E402

SHARED_CATEGORIES = ("aaron_sheep", "omniglot", "short_kanji")
SOURCE_SPLITS = quickdraw_sketch_rnn.quickdraw_sketch_rnn_dataset_builder.SPLITS


def _count_sketches(folder, categories) -> dict[str, int]:
    """Sketches per TFDS split, counted straight from the ``.npz`` files."""
    counts = {"train": 0, "validation": 0, "test": 0}
    for category in categories:
        with np.load(folder / f"{category}.npz", encoding="latin1", allow_pickle=True) as data:
            for source, split in SOURCE_SPLITS.items():
                counts[split] += len(data[source])
    return counts


class QuickdrawSketchRnnFakeTest(tfds.testing.DatasetBuilderTestCase):
    """The ``small`` config on the fake files of ``dummy_data/``."""

    DATASET_CLASS = quickdraw_sketch_rnn.QuickdrawSketchRnn
    BUILDER_CONFIG_NAMES_TO_TEST = ["small"]
    MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False  # its np.load mock refuses pickled object arrays
    SKIP_TF1_GRAPH_MODE = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.SPLITS = _count_sketches(cls.dummy_data, quickdraw_sketch_rnn.QuickdrawSketchRnn
                                     .builder_configs["small"].categories)


class QuickdrawSketchRnnSharedFilesTest(tfds.testing.DatasetBuilderTestCase):
    """A custom config over the three real sketch-rnn files in ``../shared/data/sketchrnn``."""

    DATASET_CLASS = quickdraw_sketch_rnn.QuickdrawSketchRnn
    BUILDER_CONFIG_NAMES_TO_TEST = [quickdraw_sketch_rnn.config_for_categories(SHARED_CATEGORIES)]
    MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False  # its np.load mock refuses pickled object arrays
    SKIP_TF1_GRAPH_MODE = True
    # Set here, not in setUpClass: test collection reads (and memoizes) `dummy_data` early.
    EXAMPLE_DIR = str(SHARED / "data" / "sketchrnn")
    # The upstream files repeat a few identical short sketches across splits.
    OVERLAPPING_SPLITS = ["validation", "test"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.SPLITS = _count_sketches(shared_path("data", "sketchrnn"), SHARED_CATEGORIES)


def test_shared_files_features_and_label_names(tmp_path):
    """Label names follow the config's order and each label holds its own file's sketches."""
    folder = shared_path("data", "sketchrnn")
    config = quickdraw_sketch_rnn.QuickdrawSketchRnnConfig(name="custom",
                                                           categories=SHARED_CATEGORIES)
    builder = quickdraw_sketch_rnn.QuickdrawSketchRnn(config=config, data_dir=tmp_path)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=folder))
    label = builder.info.features["label"]
    assert label.names == list(SHARED_CATEGORIES)
    assert builder.info.features["strokes"].shape == (None, 3)
    assert builder.info.features["strokes"].dtype == np.int16
    with np.load(folder / "short_kanji.npz", encoding="latin1", allow_pickle=True) as data:
        expected = sorted(s.tobytes() for s in data["test"])
    got = sorted(example["strokes"].tobytes()
                 for example in tfds.as_numpy(builder.as_dataset(split="test"))
                 if example["label"] == label.str2int("short_kanji"))
    assert got == expected


def test_missing_files_fail_fast_with_urls(tmp_path):
    """No manual files and no permission to download: a quick error naming URLs and folder."""
    builder = quickdraw_sketch_rnn.QuickdrawSketchRnn(config="all", data_dir=tmp_path,
                                                      allow_download=False)
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    (manual_dir / "cat.npz").write_bytes(b"")  # present files are not listed as missing
    start = time.monotonic()
    with pytest.raises(FileNotFoundError) as error:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "344 of 345 files missing" in message
    assert str(manual_dir) in message
    assert quickdraw_sketch_rnn.category_url("aircraft carrier") in message
    assert "aircraft%20carrier.npz" in message
    assert "allow_download" in message


def test_config_validation_and_naming():
    """Bad category lists raise ValueError; custom names depend on the list."""
    with pytest.raises(ValueError, match="empty"):
        quickdraw_sketch_rnn.QuickdrawSketchRnnConfig(name="x", categories=[])
    with pytest.raises(ValueError, match="duplicate"):
        quickdraw_sketch_rnn.QuickdrawSketchRnnConfig(name="x", categories=["cat", "cat"])
    assert quickdraw_sketch_rnn.config_for_categories(
        ["apple", "bicycle", "cat", "fish", "sheep"]).name == "small"
    assert len(quickdraw_sketch_rnn.CATEGORIES) == 345
    first = quickdraw_sketch_rnn.config_for_categories(["cat", "dog"])
    second = quickdraw_sketch_rnn.config_for_categories(["dog", "cat"])
    assert first.name.startswith("custom_") and first.name != second.name
