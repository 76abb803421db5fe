"""Loaders for the EmoMV feature files (the authors' layout), with the release's invariants checked
(row counts, labels, feature rows matching CSV rows).

Layout of one dataset folder (``DS1_EmoMV_A``, ``DS2_EmoMV_B``, ``DS3_EmoMV_C``)::

    annotation/DSk_<SPLIT>_MATCH_MISMATCH_labels.csv    one music-video pair per row (7 columns, no header)
    extracted_features/SlowFast_DSk_<SPLIT>_MATCH_MISMATCH.h5   (N, 2304) video features, row i = CSV row i
    extracted_features/VGGish_DSk_<SPLIT>_MATCH_MISMATCH.h5     (N, 128) music features, row i = CSV row i
    for_retrieval/...                                   the original (unpaired) segments of the retrieval tables

``--data`` may point at the collection (the folder holding ``DS3_EmoMV_C/``) or at one dataset folder; any
subset of the files may be present (a folder holding a single split works). Asking for a file that is absent
raises :class:`MissingDataError`, which names the file and where the full collection is.

Features stay raw here: standardisation is part of each model (scaler buffers fitted on the rows it trains
on), so a saved model carries it. Either modality may be absent from a :class:`PairSplit` (EmoMV-A and
EmoMV-B ship music-only splits), which the masked losses of ``training/recipe.py`` build on.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from emomv_desktop.engine.emotions import Emotion
from emomv_desktop.engine.errors import EngineError, PathError
from emomv_desktop.engine.protocol import MUSIC_FEATURE_DIM, VIDEO_FEATURE_DIM

FULL_COLLECTION = "get the full EmoMV collection from Zenodo, doi 10.5281/zenodo.7011072"
PAIR_MARKER = "_PAIR_"


class MissingDataError(PathError):
    """A file the requested split or table needs is absent."""

    def __init__(self, path: Path | str, what: str) -> None:
        super().__init__(path, f"missing ({what}); {FULL_COLLECTION}")


class DataFormatError(PathError):
    """A file is present but does not have the layout or the invariants of the EmoMV release."""


class MissingExtraError(EngineError):
    """A package of the ``train`` extra is not installed."""

    def __init__(self, package: str, what: str) -> None:
        super().__init__(f"{what} needs {package}, part of the train extra: pip install 'emomv-desktop[train]'")


def _h5py():
    """h5py, imported on first use: the app never reads HDF5, so it is in the ``train`` extra only."""
    try:
        import h5py
    except ImportError:
        raise MissingExtraError("h5py", "reading the EmoMV feature files (.h5)") from None
    return h5py


class Split(str, enum.Enum):
    """A pair split of a dataset; the value is what the CLI accepts."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"

    @property
    def tag(self) -> str:
        return self.name  # TRAIN / VAL / TEST, as in the file names


RETRIEVAL = "retrieval"
"""Name of the retrieval set where a split name is expected (``evaluate --split retrieval``)."""


class Modality(str, enum.Enum):
    VIDEO = "video"
    MUSIC = "music"


FEATURE_PREFIX = {Modality.VIDEO: "SlowFast", Modality.MUSIC: "VGGish"}
FEATURE_KEY = {Modality.VIDEO: "default", Modality.MUSIC: "data"}
FEATURE_DIM = {Modality.VIDEO: VIDEO_FEATURE_DIM, Modality.MUSIC: MUSIC_FEATURE_DIM}
BOTH = (Modality.VIDEO, Modality.MUSIC)

# ------------------------------------------------------------------------------------- source ids


def _youtube_segment_source(segment: str) -> str:
    """EmoMV-C: ``<11-char YouTube id>_<NN>`` -> the YouTube id (ids may themselves hold ``_``)."""
    head, _, tail = segment.rpartition("_")
    return head if head and tail.isdigit() else segment


def _audioset_source(segment: str) -> str:
    """EmoMV-B: a segment id is an AudioSet clip id (one YouTube video, one clip)."""
    return segment


_MVED_SEGMENT_SUFFIX = re.compile(r"-\d+-of-\d+$")


def _mved_source(segment: str) -> str:
    """EmoMV-A: ``<label>_<MVED file>[-k-of-n]`` -> the MVED file.

    The label prefix is dropped (one MVED video cut into segments may carry several labels) and the
    ``-k-of-n`` segment suffix too. File names are not unique across MVED's class folders (``35`` in
    two folders), so this over-groups a little, which only makes a grouped split coarser, never leaky.
    """
    head, sep, rest = segment.partition("_")
    if sep:
        try:
            Emotion.parse(head)
            segment = rest
        except ValueError:
            pass
    return _MVED_SEGMENT_SUFFIX.sub("", segment)


# ---------------------------------------------------------------------------------- dataset specs


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Names and conventions of one EmoMV dataset."""

    key: str  # "A", "B", "C"
    name: str  # "EmoMV-A"
    folder: str  # "DS1_EmoMV_A"
    prefix: str  # "DS1"
    splits: tuple[Split, ...]  # the pair splits of the full collection
    report_split: Split  # where the paper reports classification
    retrieval_stem: str  # for_retrieval/<stem>.csv, SlowFast_<stem>.h5, VGGish_<stem>.h5
    retrieval_csv: str
    source_of: Callable[[str], str]  # segment id -> source-video id

    def labels_file(self, split: Split) -> str:
        return f"annotation/{self.prefix}_{split.tag}_MATCH_MISMATCH_labels.csv"

    def features_file(self, split: Split, modality: Modality) -> str:
        return f"extracted_features/{FEATURE_PREFIX[modality]}_{self.prefix}_{split.tag}_MATCH_MISMATCH.h5"

    def retrieval_labels_file(self) -> str:
        return f"for_retrieval/{self.retrieval_csv}"

    def retrieval_features_file(self, modality: Modality) -> str:
        return f"for_retrieval/{FEATURE_PREFIX[modality]}_{self.retrieval_stem}.h5"


DATASETS: dict[str, DatasetSpec] = {
    spec.key: spec
    for spec in (
        DatasetSpec(
            "A", "EmoMV-A", "DS1_EmoMV_A", "DS1", (Split.TRAIN, Split.VAL, Split.TEST), Split.TEST,
            "DS1_from_MVED_test_set_5_classes_for_retrieval", "DS1_from_MVED_test_set_5_classes_for_retrieval.csv",
            _mved_source,
        ),
        DatasetSpec(
            "B", "EmoMV-B", "DS2_EmoMV_B", "DS2", (Split.TRAIN, Split.VAL), Split.VAL,
            "DS2_VAL_for_retrieval", "DS2_VAL_labels_for_retrieval.csv", _audioset_source,
        ),
        DatasetSpec(
            "C", "EmoMV-C", "DS3_EmoMV_C", "DS3", (Split.TRAIN, Split.VAL), Split.VAL,
            "DS3_VAL_for_retrieval", "DS3_VAL_labels_for_retrieval.csv", _youtube_segment_source,
        ),
    )
}


def dataset_spec(key: str) -> DatasetSpec:
    """``"C"``, ``"c"``, ``"EmoMV-C"`` or ``"DS3_EmoMV_C"`` -> the spec (``ValueError`` if unknown)."""
    text = key.strip()
    for spec in DATASETS.values():
        if text.upper() in (spec.key, spec.name.upper(), spec.folder.upper(), spec.prefix):
            return spec
    raise ValueError(f"unknown dataset {key!r}; expected one of {', '.join(DATASETS)}")


def dataset_root(data: Path | str, spec: DatasetSpec) -> Path:
    """The folder holding ``annotation/`` etc. for ``spec``: ``data/<folder>`` or ``data`` itself."""
    data = Path(data)
    nested = data / spec.folder
    if nested.is_dir():
        return nested
    if data.name == spec.folder or any((data / sub).is_dir() for sub in ("annotation", "for_retrieval")):
        return data
    return nested  # absent: the error about the first file names the expected place


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise MissingDataError(path, what)
    return path


# ------------------------------------------------------------------------------------ containers


@dataclasses.dataclass
class PairSplit:
    """One pair split: row i is a (video, music) pair with its match label and both emotions.

    ``video``/``music`` are raw float32 features or ``None`` when that modality was not loaded.
    ``groups`` are integers; rows that share a source video (on either side) share a group.
    """

    dataset: str
    split: str
    ids: tuple[str, ...]
    match: torch.Tensor  # (N,) int64, 1 = matched
    video_emotion: torch.Tensor  # (N,) int64, Emotion values
    music_emotion: torch.Tensor
    groups: np.ndarray  # (N,) int64
    video: torch.Tensor | None = None  # (N, 2304) float32
    music: torch.Tensor | None = None  # (N, 128) float32

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> "PairSplit":
        """Rows ``index`` (in that order) as a new split sharing no storage with the tensors' views."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        pick = lambda t: None if t is None else t.index_select(0, idx)  # noqa: E731
        np_idx = idx.numpy()
        return PairSplit(
            self.dataset, self.split, tuple(self.ids[i] for i in np_idx), pick(self.match),
            pick(self.video_emotion), pick(self.music_emotion), self.groups[np_idx], pick(self.video),
            pick(self.music),
        )

    def describe(self) -> str:
        matched = int(self.match.sum())
        have = [m.value for m in BOTH if self.features(m) is not None] or ["labels only"]
        return f"{self.dataset} {self.split}: {len(self)} pairs ({matched} matched), {'+'.join(have)}"

    def features(self, modality: Modality) -> torch.Tensor | None:
        return self.video if modality is Modality.VIDEO else self.music


@dataclasses.dataclass
class RetrievalSet:
    """Original (unpaired) segments: row i is one segment's video and music with its emotion label."""

    dataset: str
    ids: tuple[str, ...]
    labels: torch.Tensor  # (N,) int64
    video: torch.Tensor | None
    music: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.ids)


# ---------------------------------------------------------------------------------------- reading


def _read_rows(path: Path, columns: tuple[int, ...]) -> list[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(path, f"unreadable CSV ({exc})") from exc
    if not rows:
        raise DataFormatError(path, "empty label file")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or widths.pop() not in columns:
        raise DataFormatError(path, f"expected {' or '.join(map(str, columns))} columns on every row")
    return rows


def _emotion(path: Path, row_number: int, index_text: str, label_text: str | None = None) -> int:
    """The integer label (the authoritative column); cross-checked with the string spelling if there is one."""
    try:
        emotion = Emotion.parse(index_text.strip())
        if label_text is not None and Emotion.parse(label_text) is not emotion:
            raise ValueError(f"string {label_text!r} disagrees with index {index_text!r}")
    except ValueError as exc:
        raise DataFormatError(path, f"row {row_number}: bad emotion label ({exc})") from None
    return int(emotion)


def read_features(path: Path, modality: Modality, what: str) -> torch.Tensor:
    """An h5 feature matrix as float32 ``(N, dim)`` (the DS1 retrieval VGGish file is float64)."""
    _require(path, what)
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            keys = list(f.keys())
            key = FEATURE_KEY[modality] if FEATURE_KEY[modality] in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise DataFormatError(path, f"no dataset {FEATURE_KEY[modality]!r} (found {keys})")
            array = np.asarray(f[key], dtype=np.float32)
    except OSError as exc:
        raise DataFormatError(path, f"unreadable HDF5 file ({exc})") from exc
    if array.ndim != 2 or array.shape[1] != FEATURE_DIM[modality]:
        raise DataFormatError(path, f"expected (N, {FEATURE_DIM[modality]}) {modality.value} features, "
                                    f"found {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array))


def _check_rows(path: Path, features: torch.Tensor, n_rows: int, labels_path: Path) -> None:
    if features.shape[0] != n_rows:
        raise DataFormatError(path, f"{features.shape[0]} rows but {labels_path.name} has {n_rows}")


def split_pair_id(segment_pair: str) -> tuple[str, str]:
    """``video_PAIR_music`` -> (video segment, music segment); a matched id is both."""
    video, sep, music = segment_pair.partition(PAIR_MARKER)
    return (video, music) if sep else (segment_pair, segment_pair)


def pair_groups(ids: Sequence[str], source_of: Callable[[str], str]) -> np.ndarray:
    """Group id of every pair row: connected components of rows linked by a shared source video.

    A mismatched row ``v_PAIR_m`` links the sources of ``v`` and ``m``; the same source reappears in
    other rows (matched segments of the same YouTube video, the music of ``v`` paired elsewhere). Putting
    a whole component on one side of a split is what keeps a hold-out free of any source seen in training.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sources = [tuple(source_of(s) for s in split_pair_id(i)) for i in ids]
    for video_source, music_source in sources:
        parent[find(video_source)] = find(music_source)
    roots: dict[str, int] = {}
    return np.array([roots.setdefault(find(v), len(roots)) for v, _ in sources], dtype=np.int64)


def _check_pair_invariants(path: Path, match: np.ndarray, video_emotion: np.ndarray, music_emotion: np.ndarray) -> None:
    same = video_emotion == music_emotion
    bad = np.flatnonzero(same != (match == 1))
    if bad.size:
        row = int(bad[0]) + 1
        raise DataFormatError(path, f"row {row}: a matched pair must have equal video and music emotions and a "
                                    f"mismatched pair different ones ({bad.size} rows break this)")


def load_pairs(
    data: Path | str,
    dataset: str | DatasetSpec,
    split: Split | str,
    modalities: Sequence[Modality] = BOTH,
) -> PairSplit:
    """Load one pair split with the requested modalities (others stay ``None``).

    Raises :class:`MissingDataError` naming the first absent file, :class:`DataFormatError` if a file
    breaks the release's layout (row counts, columns, label invariants).
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else dataset_spec(dataset)
    split = Split(split)
    root = dataset_root(data, spec)
    labels_path = _require(root / spec.labels_file(split), f"{spec.name} {split.value} labels")
    rows = _read_rows(labels_path, (7,))
    match, video_emotion, music_emotion = [], [], []
    for n, row in enumerate(rows, start=1):
        if row[2].strip() not in ("0", "1"):
            raise DataFormatError(labels_path, f"row {n}: match label {row[2]!r} is not 0 or 1")
        match.append(int(row[2]))
        video_emotion.append(_emotion(labels_path, n, row[5], row[3]))
        music_emotion.append(_emotion(labels_path, n, row[6], row[4]))
    match_a, video_a, music_a = (np.array(x, dtype=np.int64) for x in (match, video_emotion, music_emotion))
    _check_pair_invariants(labels_path, match_a, video_a, music_a)
    ids = tuple(row[1].strip() for row in rows)
    features: dict[Modality, torch.Tensor] = {}
    for modality in modalities:
        path = root / spec.features_file(split, modality)
        features[modality] = read_features(path, modality, f"{spec.name} {split.value} {modality.value} features")
        _check_rows(path, features[modality], len(rows), labels_path)
    return PairSplit(
        spec.key, split.value, ids, torch.from_numpy(match_a), torch.from_numpy(video_a), torch.from_numpy(music_a),
        pair_groups(ids, spec.source_of), features.get(Modality.VIDEO), features.get(Modality.MUSIC),
    )


def load_retrieval(
    data: Path | str, dataset: str | DatasetSpec, modalities: Sequence[Modality] = BOTH
) -> RetrievalSet:
    """Load a retrieval set. DS2/DS3 files have 4 columns (folder, id, emotion string, emotion int; the label
    is the integer column); DS1's MVED file has 3 (folder, file name, emotion int)."""
    spec = dataset if isinstance(dataset, DatasetSpec) else dataset_spec(dataset)
    root = dataset_root(data, spec)
    labels_path = _require(root / spec.retrieval_labels_file(), f"{spec.name} retrieval-set labels")
    rows = _read_rows(labels_path, (3, 4))
    labels = [
        _emotion(labels_path, n, row[-1], row[2] if len(row) == 4 else None) for n, row in enumerate(rows, start=1)
    ]
    features: dict[Modality, torch.Tensor] = {}
    for modality in modalities:
        path = root / spec.retrieval_features_file(modality)
        features[modality] = read_features(path, modality, f"{spec.name} retrieval-set {modality.value} features")
        _check_rows(path, features[modality], len(rows), labels_path)
    return RetrievalSet(
        spec.key, tuple(row[1].strip() for row in rows), torch.tensor(labels, dtype=torch.long),
        features.get(Modality.VIDEO), features.get(Modality.MUSIC),
    )


def grouped_holdout(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (fit, hold-out) by whole groups; the hold-out holds at least ``fraction`` of the
    rows (the first groups of a seeded shuffle until the fraction is reached)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"hold-out fraction must be in (0, 1), got {fraction}")
    unique = np.unique(groups)
    order = np.random.default_rng(seed).permutation(unique)
    sizes = np.bincount(np.searchsorted(unique, groups), minlength=len(unique))[np.searchsorted(unique, order)]
    n_held = int(np.searchsorted(np.cumsum(sizes), fraction * len(groups)) + 1)
    held = np.isin(groups, order[:n_held])
    return np.flatnonzero(~held), np.flatnonzero(held)
