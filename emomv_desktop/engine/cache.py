"""A file of named numpy arrays and text columns, memory-mapped on read and replaced atomically on write.

The ranking persists its embedding cache this way beside the library database, so the first query after a
start maps the arrays (the OS pages them in as the first matrix-vector product reads them) instead of
re-embedding every window. No third-party format: ``np.load(mmap_mode=...)`` cannot map members of an
``.npz``, and one file per array could not be replaced atomically as a set.

Layout: ``MAGIC`` (8 bytes), the header's length (8 bytes, little-endian), the header (UTF-8 JSON: the caller's
``meta``, each array's dtype, shape and offset, the file's total size), then each array's bytes at a 64-byte
aligned offset. :func:`read` returns None for a file that is absent, of another format version, or damaged in
a way it can see (wrong magic, unreadable header, size differing from the header's): a damaged cache costs a
rebuild, never a wrong answer from a half-written file. (Array bytes are not checksummed: hashing 600 MB would
cost more than the rebuild saves at start; the write is atomic, so only media faults can alter them.)

Text columns (track paths, tags) are stored as one UTF-8 blob with end offsets and a None mask, and read back
as a :class:`TextColumn`: a sequence that decodes an item only when asked for it (the ranking shows ten).
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PathError
from .fileio import atomic_path

__all__ = ["MAGIC", "TextColumn", "read", "text_arrays", "write"]

MAGIC = b"EMOMVAF1"
_ALIGN = 64
_log = logging.getLogger(__name__)


def text_arrays(name: str, values: Sequence[str | Path | None]) -> dict[str, np.ndarray]:
    """``values`` as the three arrays of a text column (``NAME.blob``, ``NAME.ends``, ``NAME.none``).

    Paths are stored as their file-system bytes (``os.fsencode``: names that are not valid UTF-8 survive),
    strings as UTF-8 (lone surrogates kept).
    """
    encoded = [b"" if v is None else os.fsencode(v) if isinstance(v, Path) else v.encode("utf-8", "surrogatepass")
               for v in values]
    return {
        f"{name}.blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        f"{name}.ends": np.cumsum([len(e) for e in encoded], dtype=np.int64),
        f"{name}.none": np.array([v is None for v in values], dtype=bool),
    }


class TextColumn(Sequence):
    """A read-only sequence of str (or Path, or None) decoded on access from a text column's arrays."""

    def __init__(self, arrays: dict[str, np.ndarray], name: str, kind: Callable[[bytes], Any]) -> None:
        self._blob = memoryview(arrays[f"{name}.blob"])
        self._ends, self._none = arrays[f"{name}.ends"], arrays[f"{name}.none"]
        self._kind = kind
        self._all: list | None = None

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self._all is not None:
            return self._all[index]
        index = range(len(self))[index]  # negative indices; IndexError past the end
        if self._none[index]:
            return None
        start = int(self._ends[index - 1]) if index else 0
        return self._kind(self._blob[start : int(self._ends[index])].tobytes())

    def __iter__(self) -> Iterator:
        if self._all is None:  # a full pass (a text filter): decode everything once
            blob, bounds = bytes(self._blob), np.concatenate([[0], self._ends]).tolist()
            rows = zip(bounds, bounds[1:], self._none.tolist())
            self._all = [None if none else self._kind(blob[a:b]) for a, b, none in rows]
        return iter(self._all)


def decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def decode_path(raw: bytes) -> Path:
    return Path(os.fsdecode(raw))


def write(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bool:
    """Write ``arrays`` with ``meta`` to ``path`` atomically (:func:`fileio.atomic_path`: a hidden sibling, then
    ``os.replace``), synced to disk before the rename.

    Returns False (and logs why) if the file could not be written, e.g. a full or read-only disk: the cache is
    an optimisation, its absence only costs the next start a rebuild.
    """
    start = _ALIGN
    while True:  # the arrays' offsets depend on the header's length, which depends on the offsets
        layout, offset = {}, start
        for name, array in arrays.items():
            layout[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
            offset = _aligned(offset + array.nbytes)
        header = json.dumps({"meta": meta, "arrays": layout, "size": offset}).encode("utf-8")
        if _aligned(16 + len(header)) <= start:
            break
        start = _aligned(16 + len(header))
    header += b" " * (start - 16 - len(header))
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as out:
            out.write(MAGIC + struct.pack("<Q", len(header)) + header)
            for name, array in arrays.items():
                out.seek(layout[name]["offset"])
                out.write(np.ascontiguousarray(array).data)
            out.truncate(offset)
            out.flush()
            os.fsync(out.fileno())
        return True
    except (OSError, PathError) as exc:
        _log.warning("could not write the cache file %s (%s); it will be rebuilt next time", path, exc)
        return False


def read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """``(meta, arrays)`` of a file :func:`write` made, arrays memory-mapped read-only; None if unusable."""
    try:
        with open(path, "rb") as f:
            start = f.read(16)
            if len(start) != 16 or start[:8] != MAGIC:
                return None
            header = json.loads(f.read(struct.unpack("<Q", start[8:])[0]).decode("utf-8"))
            if os.fstat(f.fileno()).st_size != header["size"]:
                return None
        arrays = {}
        for name, spec in header["arrays"].items():
            dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
            if int(np.prod(shape)) == 0:
                arrays[name] = np.empty(shape, dtype)
            else:
                # a plain read-only ndarray view of the mapping: indexing a np.memmap builds a memmap per item
                arrays[name] = np.asarray(np.memmap(path, dtype=dtype, mode="r", offset=spec["offset"], shape=shape))
        return header["meta"], arrays
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN
