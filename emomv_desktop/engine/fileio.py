"""File helpers shared by the engine and training: atomic writes and sha256 digests.

An atomic write goes to a hidden sibling ``.NAME.part`` (same folder, so the final rename stays on one file
system; writers that pick a format by suffix must name it themselves) and is renamed over the target only when
it is complete: a reader never sees a half-written file, and a failed or cancelled write leaves no partial
file and the old target untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import PathError
from .jobs import CancelToken, check

CHUNK_BYTES = 1 << 20


def part_path(path: Path) -> Path:
    """The hidden sibling an atomic write of ``path`` goes to first."""
    return path.with_name(f".{path.name}.part")


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """``with atomic_path(target) as tmp:`` write ``tmp``; on a clean exit it replaces ``target``.

    On any exception the temporary file is removed and the exception propagates; an ``OSError`` (the write or
    the rename failing) becomes a :class:`PathError` naming ``target``.
    """
    path = Path(path)
    tmp = part_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PathError(path, f"cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` and move ``tmp`` over ``path`` (see :func:`atomic_path`); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def write_text_atomically(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    """``Path.write_text`` that never leaves a half-written file."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def sha256_of(path: Path | str, *, cancel: CancelToken | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks; ``cancel`` is checked between chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            check(cancel)
            digest.update(chunk)
    return digest.hexdigest()
