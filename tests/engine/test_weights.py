"""engine.weights against a real HTTP server on 127.0.0.1: download, resume, cancel, verification, import."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from emomv_desktop.engine import backbones, paths, weights
from emomv_desktop.engine.errors import Cancelled, WeightsError
from emomv_desktop.engine.jobs import CancelToken

TINY = "tiny"


def tiny_architecture() -> nn.Module:
    """A ~2.4 MB stand-in architecture: big enough for several 1 MiB download chunks, quick to save and load."""
    return nn.Sequential(nn.Linear(600, 1000), nn.ReLU(), nn.Linear(1000, 10))


class LoopbackServer:
    """Threaded ``http.server`` serving in-memory files, with Range support and scripted failures.

    ``drop_after[path] = n``: the next GET of ``path`` announces the full length but sends only ``n`` bytes
    and closes the connection (a network interruption). ``ignore_range``: answer 200 with the whole file.
    Every request's path and Range header are recorded.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                wanted = self.headers.get("Range")
                server.requests.append((self.path, wanted))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if wanted and not server.ignore_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.drop_after.pop(self.path, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with LoopbackServer() as running:
        yield running


def state_bytes(module: nn.Module, tmp_path: Path, name: str = "state.pt", wrap: str | None = None) -> bytes:
    path = tmp_path / name
    torch.save({wrap: module.state_dict()} if wrap else module.state_dict(), path)
    return path.read_bytes()


@pytest.fixture
def tiny(monkeypatch, server, tmp_path):
    """Register a ``tiny`` weight served by the loopback server; its sha256 prefix is that of the served file."""
    torch.manual_seed(0)
    data = state_bytes(tiny_architecture(), tmp_path)
    server.files["/tiny-weights.pt"] = data
    spec = weights.WeightSpec(
        key=TINY,
        title="Tiny test network",
        url=server.url("/tiny-weights.pt"),
        filename="tiny-weights.pt",
        backbone_id="test/tiny",
        sha256_prefix=hashlib.sha256(data).hexdigest()[:8],
        size=len(data),
        architecture=tiny_architecture,
    )
    monkeypatch.setitem(weights.REGISTRY, TINY, spec)
    return spec, data


def cache_files() -> list[str]:
    folder = paths.weights_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------------------------------ download
def test_registry_holds_the_official_files():
    slowfast, vggish = weights.REGISTRY[weights.SLOWFAST], weights.REGISTRY[weights.VGGISH]
    readme = (paths.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")  # users fetch these by hand offline
    for spec in (slowfast, vggish):
        assert f"| `{spec.filename}` | `{spec.url}` |" in readme, spec.key
    assert slowfast.state_key == "model_state" and slowfast.sha256_prefix is None
    assert vggish.url.endswith("/v0.1/vggish-10086976.pth") and vggish.sha256_prefix == "10086976"
    assert weights.weight_path(weights.VGGISH).parent == paths.weights_dir()


def test_download_verifies_records_and_loads(tiny):
    spec, data = tiny
    seen = []
    path = weights.download(TINY, progress=seen.append)
    assert path == weights.weight_path(TINY) and path.read_bytes() == data
    assert cache_files() == ["tiny-weights.pt", "tiny-weights.pt.json"]
    record = json.loads((path.parent / "tiny-weights.pt.json").read_text())
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["size"] == len(data)
    assert [p.done for p in seen if p.total] == sorted(p.done for p in seen if p.total)
    assert any(p.done == len(data) and p.total == len(data) for p in seen)
    status = weights.weight_status(TINY)
    assert status.state == weights.WeightState.PRESENT
    torch.manual_seed(0)
    expected = tiny_architecture().state_dict()
    loaded = weights.load_state_dict(TINY)
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_hash_prefix_mismatch_is_rejected_and_leaves_nothing(tiny, monkeypatch):
    spec, _ = tiny
    monkeypatch.setitem(weights.REGISTRY, TINY, weights.dataclasses.replace(spec, sha256_prefix="00000000"))
    with pytest.raises(WeightsError, match="does not start with 00000000"):
        weights.download(TINY)
    assert cache_files() == []
    assert weights.weight_status(TINY).state == weights.WeightState.MISSING


def test_wrong_architecture_is_rejected(tiny, server, tmp_path, monkeypatch):
    spec, _ = tiny
    monkeypatch.setitem(weights.REGISTRY, TINY, weights.dataclasses.replace(spec, sha256_prefix=None))
    server.files["/other.pt"] = state_bytes(nn.Linear(600, 999), tmp_path, "other.pt")
    with pytest.raises(WeightsError, match="does not fit the Tiny test network architecture"):
        weights.download(TINY, url=server.url("/other.pt"))
    assert cache_files() == []


def test_interrupted_download_resumes_with_a_range_request(tiny, server):
    spec, data = tiny
    server.drop_after["/tiny-weights.pt"] = 1_500_000
    with pytest.raises(WeightsError, match="run the download again to resume"):
        weights.download(TINY)
    part = weights.weight_path(TINY).with_name("tiny-weights.pt.part")
    kept = part.stat().st_size
    assert 0 < kept <= 1_500_000
    assert weights.weight_status(TINY).state == weights.WeightState.MISSING
    path = weights.download(TINY)
    assert server.requests[-1] == ("/tiny-weights.pt", f"bytes={kept}-")
    assert path.read_bytes() == data and not part.exists()


def test_server_ignoring_range_restarts_cleanly(tiny, server):
    spec, data = tiny
    part = weights.weight_path(TINY).with_name("tiny-weights.pt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage from an older attempt")
    server.ignore_range = True
    assert weights.download(TINY).read_bytes() == data


def test_complete_part_is_verified_without_refetching(tiny, server):
    spec, data = tiny
    part = weights.weight_path(TINY).with_name("tiny-weights.pt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    assert weights.download(TINY).read_bytes() == data
    assert server.requests == [("/tiny-weights.pt", f"bytes={len(data)}-")]


def test_cancel_keeps_the_part_for_later(tiny):
    spec, data = tiny
    token = CancelToken()

    def progress(p):
        if p.done >= weights.CHUNK_BYTES:
            token.cancel()

    with pytest.raises(Cancelled):
        weights.download(TINY, progress=progress, cancel=token)
    assert cache_files() == ["tiny-weights.pt.part"]
    assert weights.weight_status(TINY).state == weights.WeightState.MISSING
    assert weights.download(TINY).read_bytes() == data


def test_unreachable_server_is_a_weights_error(tiny):
    with pytest.raises(WeightsError, match="failed after 0.0 MB"):
        weights.download(TINY, url="http://127.0.0.1:9/nothing")


def test_http_error_is_a_weights_error(tiny, server):
    with pytest.raises(WeightsError, match="404"):
        weights.download(TINY, url=server.url("/missing.pt"))


# ------------------------------------------------------------------------------------------------ cache integrity
def test_corrupt_cache_is_reported_and_never_loaded(tiny):
    path = weights.download(TINY)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    status = weights.weight_status(TINY)
    assert status.state == weights.WeightState.CORRUPT and "damaged or was replaced" in status.message
    with pytest.raises(WeightsError, match="corrupt"):
        weights.load_state_dict(TINY)
    with pytest.raises(WeightsError, match="corrupt"):
        weights.load_cached([TINY], allow_missing=True)


def test_file_without_record_is_not_trusted(tiny):
    spec, data = tiny
    path = weights.weight_path(TINY)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    status = weights.weight_status(TINY)
    assert status.state == weights.WeightState.CORRUPT and "no verification record" in status.message


def test_missing_is_missing_with_how_to_get_it(tiny):
    status = weights.weight_status(TINY)
    assert status.state == weights.WeightState.MISSING
    assert weights.DOWNLOAD_COMMAND in status.message and weights.IMPORT_COMMAND in status.message
    with pytest.raises(WeightsError, match="tiny-weights.pt"):
        weights.load_state_dict(TINY)
    assert weights.load_cached([TINY], allow_missing=True) == {TINY: None}


# ------------------------------------------------------------------------------------------------ import
def test_import_file_verifies_like_a_download(tiny, tmp_path):
    spec, data = tiny
    src = tmp_path / "from-usb.pt"
    src.write_bytes(data)
    seen = []
    path = weights.import_file(TINY, src, progress=seen.append)
    assert path.read_bytes() == data and src.exists()
    assert seen[-1].done == seen[-1].total == len(data)
    assert weights.weight_status(TINY).state == weights.WeightState.PRESENT
    assert cache_files() == ["tiny-weights.pt", "tiny-weights.pt.json"]


def test_import_file_cancel_leaves_the_cache_untouched(tiny, tmp_path):
    spec, data = tiny
    src = tmp_path / "from-usb.pt"
    src.write_bytes(data)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        weights.import_file(TINY, src, cancel=token)
    assert cache_files() == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"<html>404 Not Found</html>", "does not start with"),
        (None, "no such file"),
    ],
    ids=["not-a-checkpoint", "missing-source"],
)
def test_import_file_rejects_bad_sources(tiny, tmp_path, content, fragment):
    src = tmp_path / "download.pt"
    if content is not None:
        src.write_bytes(content)
    with pytest.raises(WeightsError, match=fragment):
        weights.import_file(TINY, src)
    assert [n for n in cache_files() if not n.endswith(".part")] == []


def test_pickled_code_is_refused(tiny, tmp_path, monkeypatch):
    """weights_only loading: a checkpoint carrying arbitrary Python objects is refused, not executed."""
    spec, _ = tiny
    monkeypatch.setitem(weights.REGISTRY, TINY, weights.dataclasses.replace(spec, sha256_prefix=None))
    src = tmp_path / "evil.pt"
    torch.save({"state": tiny_architecture().state_dict(), "hook": Path("/")}, src)
    with pytest.raises(WeightsError, match="not a loadable weights-only"):
        weights.import_file(TINY, src)


def test_real_slowfast_layout_is_checked_key_by_key(tmp_path):
    """The SlowFast entry checks the official layout: {'model_state': state dict of the full network}."""
    torch.manual_seed(0)
    donor = backbones.build_slowfast_module(with_head=True).state_dict()
    donor.pop("blocks.6.proj.weight")
    src = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": donor}, src)
    with pytest.raises(WeightsError, match=r"1 missing keys \(e.g. blocks.6.proj.weight\)"):
        weights.import_file(weights.SLOWFAST, src)
    torch.save(donor, src)  # not wrapped in model_state
    with pytest.raises(WeightsError, match="entry 'model_state' is not a state dict"):
        weights.import_file(weights.SLOWFAST, src)
    assert weights.weight_status(weights.SLOWFAST).state == weights.WeightState.MISSING


def test_vggish_name_hash_protects_the_real_entry(server, tmp_path):
    """A VGGish-shaped file that is not the official one fails the sha256 prefix of vggish-10086976.pth."""
    torch.manual_seed(0)
    server.files["/vggish-10086976.pth"] = state_bytes(backbones.build_vggish_module(), tmp_path, "v.pth")
    with pytest.raises(WeightsError, match="does not start with 10086976"):
        weights.download(weights.VGGISH, url=server.url("/vggish-10086976.pth"))
    assert weights.weight_status(weights.VGGISH).state == weights.WeightState.MISSING
