"""quickdraw_sketch_rnn: the Quick, Draw! sketches in stroke-3 format, as sketch-rnn used them.

Google publishes one ``{category}.npz`` file per category at
``https://storage.googleapis.com/quickdraw_dataset/sketchrnn/{category}.npz`` (CC BY 4.0). Each
file holds three object arrays, ``train``, ``valid`` and ``test``, of int16 sketches with shape
``[points, 3]``: (dx, dy, pen lifted after this point), the *stroke-3* format of Graves (2013)
used by Ha & Eck (2017). 70,000 / 2,500 / 2,500 sketches per category.

TensorFlow Datasets 4.9 ships only ``quickdraw_bitmap`` (28x28 images), so this builder provides
the stroke data the book's exercise 9 asks for. It reads the files from ``manual_dir`` first and
downloads only what is missing, and only when downloads are allowed (``allow_download=True`` or
``QUICKDRAW_SKETCH_RNN_DOWNLOAD=1``): the ``all`` config is several gigabytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

URL_TEMPLATE = "https://storage.googleapis.com/quickdraw_dataset/sketchrnn/{}.npz"
DOWNLOAD_ENV = "QUICKDRAW_SKETCH_RNN_DOWNLOAD"
# The files' own split names -> TFDS split names.
SPLITS = {"train": "train", "valid": "validation", "test": "test"}
CATEGORIES: tuple[str, ...] = tuple(
    epath.Path(__file__).with_name("categories.txt").read_text().splitlines())
SMALL_CATEGORIES = ("apple", "bicycle", "cat", "fish", "sheep")


def category_url(category: str) -> str:
    """The public URL of one category's ``.npz`` file (spaces are percent-encoded)."""
    return URL_TEMPLATE.format(urllib.parse.quote(category))


@dataclasses.dataclass
class QuickdrawSketchRnnConfig(tfds.core.BuilderConfig):
    """A ``quickdraw_sketch_rnn`` config: which categories (``{category}.npz`` files) to read.

    ``categories`` become the ``label`` class names, in the order given. Any file in the
    stroke-3 ``.npz`` layout works, not only Quick, Draw! ones (e.g. sketch-rnn's
    ``aaron_sheep``). Raises ``ValueError`` for an empty list, duplicates or names with ``/``.
    """

    categories: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.categories = tuple(self.categories)
        if not self.categories:
            raise ValueError(f"config {self.name!r}: categories must not be empty")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"config {self.name!r}: duplicate categories in {self.categories}")
        bad = [c for c in self.categories if not c or "/" in c]
        if bad:
            raise ValueError(f"config {self.name!r}: invalid category names {bad}")
        if self.description is None:
            shown = ", ".join(self.categories[:8]) + (", ..." if len(self.categories) > 8 else "")
            self.description = f"{len(self.categories)} categories: {shown}"


def config_for_categories(categories: Iterable[str]) -> QuickdrawSketchRnnConfig:
    """The predefined config listing exactly ``categories``, else a ``custom_<hash>`` one.

    The name is derived from the list, so two different lists never share a prepared folder.
    """
    categories = tuple(categories)
    for config in QuickdrawSketchRnn.BUILDER_CONFIGS:
        if config.categories == categories:
            return config
    digest = hashlib.sha1("\n".join(categories).encode()).hexdigest()[:10]
    return QuickdrawSketchRnnConfig(name=f"custom_{digest}", categories=categories)


class QuickdrawSketchRnn(tfds.core.GeneratorBasedBuilder):
    """Quick, Draw! sketches as stroke-3 sequences: ``{"strokes": [points, 3] int16, "label"}``."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        QuickdrawSketchRnnConfig(name="all", categories=CATEGORIES,
                                 description="All 345 Quick, Draw! categories (several GB)."),
        QuickdrawSketchRnnConfig(name="small", categories=SMALL_CATEGORIES),
    ]
    DEFAULT_CONFIG_NAME = "small"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put one {category}.npz file per category of the config in manual_dir, downloaded from "
        + URL_TEMPLATE.format("{category}")
        + " (spaces in names as %20). Or allow downloads: "
        f"builder_kwargs={{'allow_download': True}} or {DOWNLOAD_ENV}=1."
    )

    def __init__(self, *, allow_download: bool | None = None, **kwargs):
        """``allow_download``: fetch files missing from ``manual_dir``.

        Default: ``os.environ["QUICKDRAW_SKETCH_RNN_DOWNLOAD"] == "1"``.
        """
        super().__init__(**kwargs)
        self.allow_download = (os.environ.get(DOWNLOAD_ENV) == "1" if allow_download is None
                               else allow_download)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "strokes": tfds.features.Tensor(shape=(None, 3), dtype=np.int16),
                "label": tfds.features.ClassLabel(names=list(self.builder_config.categories)),
            }),
            supervised_keys=("strokes", "label"),
            homepage="https://github.com/googlecreativelab/quickdraw-dataset#sketch-rnn-quickdraw-dataset",
            license="CC BY 4.0 (Quick, Draw!); other stroke-3 files keep their own licence",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        paths = self._category_paths(dl_manager)
        return {split: self._generate_examples(paths, source)
                for source, split in SPLITS.items()}

    def _category_paths(self, dl_manager: tfds.download.DownloadManager) -> dict[str, epath.Path]:
        """``{category: path}``: files found in ``manual_dir``, the rest downloaded if allowed.

        Raises ``FileNotFoundError`` naming the missing files and their URLs, without touching
        the network, when files are missing and downloads are not allowed.
        """
        try:
            manual_dir = epath.Path(dl_manager.manual_dir)
        except AssertionError:  # TFDS: manual_dir missing or empty
            manual_dir = None
        paths = {c: manual_dir / f"{c}.npz" for c in self.builder_config.categories
                 if manual_dir is not None and (manual_dir / f"{c}.npz").exists()}
        missing = [c for c in self.builder_config.categories if c not in paths]
        if missing and not self.allow_download:
            urls = "\n".join(f"  {category_url(c)}" for c in missing[:10])
            more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise FileNotFoundError(
                f"quickdraw_sketch_rnn/{self.builder_config.name}: {len(missing)} of "
                f"{len(self.builder_config.categories)} files missing from manual_dir "
                f"{manual_dir or dl_manager._manual_dir}:\n{urls}{more}\n"  # noqa: SLF001
                f"Download them there, or allow downloads with "
                f"builder_kwargs={{'allow_download': True}} or {DOWNLOAD_ENV}=1.")
        if missing:
            downloaded = dl_manager.download({c: category_url(c) for c in missing})
            paths.update({c: epath.Path(p) for c, p in downloaded.items()})
        return paths

    def _generate_examples(self, paths: dict[str, epath.Path],
                           source_split: str) -> Iterator[tuple[str, dict]]:
        """Yield ``("{category}_{index}", {"strokes": [points, 3] int16, "label": category})``."""
        for category, path in paths.items():
            # The files are pickled object arrays (one array per sketch), hence allow_pickle.
            with path.open("rb") as f:
                sketches = np.load(f, encoding="latin1", allow_pickle=True)[source_split]
            for index, strokes in enumerate(sketches):
                yield f"{category}_{index}", {"strokes": np.asarray(strokes, dtype=np.int16),
                                              "label": category}
