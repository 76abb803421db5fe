import hashlib

import pytest

from emomv_desktop.engine import fileio
from emomv_desktop.engine.errors import Cancelled, PathError
from emomv_desktop.engine.jobs import CancelToken


def test_an_atomic_write_replaces_the_target_only_when_complete(tmp_path):
    target = tmp_path / "doc.json"
    target.write_text("old", encoding="utf-8")

    def failing(tmp):
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("writer broke")

    with pytest.raises(RuntimeError, match="writer broke"):
        fileio.write_atomically(target, failing)
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]

    assert fileio.write_text_atomically(target, "néw\n") == target
    assert target.read_text(encoding="utf-8") == "néw\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_an_unwritable_target_is_a_path_error_naming_it(tmp_path):
    target = tmp_path / "missing-folder" / "doc.json"
    with pytest.raises(PathError, match="missing-folder.*cannot write"):
        fileio.write_text_atomically(target, "x")


def test_sha256_of_matches_hashlib_across_chunks_and_honours_cancel(tmp_path):
    data = bytes(range(256)) * (3 * fileio.CHUNK_BYTES // 256 + 7)  # several chunks and a partial one
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert fileio.sha256_of(path) == hashlib.sha256(data).hexdigest()
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        fileio.sha256_of(path, cancel=cancel)
