"""The pretrained backbone weights: registry of the official files, cache, download, import, verification.

A cached weight file ``NAME`` in :func:`paths.weights_dir` is trusted only with its record ``NAME.json``
(sha256, size, source), written after the file passed every check:

1. the sha256 prefix carried by the file name (torch.hub's convention, e.g. ``vggish-10086976.pth``), when
   the official name has one;
2. ``torch.load(weights_only=True)`` succeeds (no pickled code runs) and the state dict matches the
   architecture exactly: same keys, same shapes (BatchNorm's ``num_batches_tracked`` counters may be absent);
3. later loads re-hash the file and compare with the record, so a damaged or swapped file is reported as
   corrupt instead of being loaded.

Downloads stream into ``NAME.part`` (resumed with an HTTP Range request after an interruption), are verified,
then renamed into place atomically; cancelling keeps the ``.part`` for a later resume. :func:`import_file`
copies a file the user fetched elsewhere (offline machines) through the same checks. Nothing here ever
reports a missing or unverified file as present.

Every message comes twice: ``message``/``str(WeightsError)`` for the command line (paths, the command to
run) and ``plain``/``WeightsError.plain`` for a window (words only: a window has buttons, not commands).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

import torch

from . import paths
from .errors import Cancelled, WeightsError
from .fileio import sha256_of, write_text_atomically
from .jobs import CancelToken, ProgressCallback, check, report
from .protocol import MUSIC_BACKBONE, VIDEO_BACKBONE

__all__ = [
    "SLOWFAST",
    "VGGISH",
    "WeightSpec",
    "REGISTRY",
    "WeightState",
    "WeightStatus",
    "weight_path",
    "weight_status",
    "download",
    "import_file",
    "load_state_dict",
    "load_cached",
    "require",
    "describe_problems",
    "plain_problems",
    "approx_size",
    "total_size_text",
    "size_text",
    "DOWNLOAD_COMMAND",
    "IMPORT_COMMAND",
]

SLOWFAST = "slowfast_r50"
VGGISH = "vggish"

DOWNLOAD_COMMAND = "emomv-desktop models download"
IMPORT_COMMAND = "emomv-desktop models import FILE"

CHUNK_BYTES = 1 << 20
"""Bytes read per network/file step: the cancel flag and progress are checked at this granularity."""
HTTP_TIMEOUT_SECONDS = 30.0
RECORD_SUFFIX = ".json"
PART_SUFFIX = ".part"
_OPTIONAL_KEY_SUFFIXES = (".num_batches_tracked",)


def _slowfast_architecture() -> torch.nn.Module:
    from .backbones import build_slowfast_module

    return build_slowfast_module(with_head=True)


def _vggish_architecture() -> torch.nn.Module:
    from .backbones import build_vggish_module

    return build_vggish_module()


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """One official weight file.

    ``title`` names the file for the CLI, ``name`` the network in a word (what a window shows; the title when empty);
    ``sha256_prefix`` is the hex prefix the official file name carries (None when it has none);
    ``size`` its size in bytes when known (None otherwise); ``state_key`` the entry of the loaded dict that
    holds the state dict (None when the file *is* the state dict); ``architecture`` builds the network (random
    weights) whose keys and shapes the file must match.
    """

    key: str
    title: str
    url: str
    filename: str
    backbone_id: str
    sha256_prefix: str | None
    size: int | None
    architecture: Callable[[], torch.nn.Module]
    state_key: str | None = None
    name: str = ""

    @property
    def plain_name(self) -> str:
        return self.name or self.title


REGISTRY: dict[str, WeightSpec] = {
    SLOWFAST: WeightSpec(
        key=SLOWFAST,
        title="SlowFast-R50 8x8 (Kinetics-400), pytorchvideo model zoo",
        name="SlowFast",
        url="https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth",
        filename="SLOWFAST_8x8_R50.pyth",
        backbone_id=VIDEO_BACKBONE,
        sha256_prefix=None,  # not published: the sha256 is recorded at first download
        size=None,
        architecture=_slowfast_architecture,
        state_key="model_state",
    ),
    VGGISH: WeightSpec(
        key=VGGISH,
        title="VGGish (AudioSet), torchvggish v0.1 release",
        name="VGGish",
        url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
        filename="vggish-10086976.pth",
        backbone_id=MUSIC_BACKBONE,
        sha256_prefix="10086976",
        size=None,
        architecture=_vggish_architecture,
    ),
}


class WeightState(str, enum.Enum):
    PRESENT = "present"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclasses.dataclass(frozen=True)
class WeightStatus:
    """Where a weight file stands: ``message`` in a sentence for the CLI (with the command that fixes it),
    ``plain`` in a few words for a window."""

    key: str
    state: WeightState
    path: Path
    message: str
    plain: str


def _spec(key: str) -> WeightSpec:
    try:
        return REGISTRY[key]
    except KeyError:
        raise WeightsError(f"unknown weight file {key!r}; known: {', '.join(REGISTRY)}") from None


def weight_path(key: str) -> Path:
    """Where the verified file of ``key`` lives in the cache (it may not exist)."""
    return paths.weights_dir() / _spec(key).filename


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _part_path(path: Path) -> Path:
    return path.with_name(path.name + PART_SUFFIX)


# --------------------------------------------------------------------------------------------------- status
def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(_record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def weight_status(key: str) -> WeightStatus:
    """present (verified file whose sha256 still matches its record), missing, or corrupt, with a message.

    Re-hashes the file (its cost: docs/engine-features.md): call it from a worker, not a GUI thread.
    """
    spec = _spec(key)
    path = weight_path(key)

    def status(state: WeightState, message: str, plain: str) -> WeightStatus:
        return WeightStatus(key, state, path, message, plain)

    damaged = "damaged or replaced: download it again or import the file"
    if not path.is_file():
        return status(WeightState.MISSING, f"{spec.title} is not installed ({path.name}); {_how_to_get()}",
                      f"not installed yet ({spec.filename}, {size_text(approx_size(key))})")
    record = _read_record(path)
    if record is None or "sha256" not in record:
        return status(WeightState.CORRUPT, f"{path} has no verification record; {_how_to_get()}", damaged)
    actual = sha256_of(path)
    if actual != record["sha256"]:
        return status(
            WeightState.CORRUPT,
            f"{path} is damaged or was replaced (sha256 {actual[:12]} != recorded {record['sha256'][:12]}); "
            f"{_how_to_get()}",
            damaged,
        )
    return status(WeightState.PRESENT, f"{spec.title}: {path} (sha256 {actual[:12]}...)", "installed and checked")


def _how_to_get() -> str:
    return f"get it with `{DOWNLOAD_COMMAND}` or, offline, `{IMPORT_COMMAND}`"


def describe_problems(statuses: Iterable[WeightStatus]) -> str:
    """One message naming every problem file, and how to fix it (the CLI's words)."""
    lines = [f"{s.key} ({s.state.value}): {s.message}" for s in statuses]
    return "pretrained weights are not ready: " + " | ".join(lines)


def plain_problems(statuses: Iterable[WeightStatus]) -> str:
    """The same in a window's words: which networks, how large, and that Model setup gets them."""
    statuses = list(statuses)
    names = " and ".join(_spec(s.key).plain_name for s in statuses)
    count = "one pretrained network" if len(statuses) == 1 else f"{len(statuses)} pretrained networks"
    if all(s.state == WeightState.MISSING for s in statuses):
        size = size_text(sum(approx_size(s.key) for s in statuses))
        return f"it needs {count} that are not installed yet ({names}, {size}): Model setup gets them"
    return f"the file of {names} is damaged or was replaced: Model setup gets it again"


# --------------------------------------------------------------------------------------------------- sizes
@functools.lru_cache(maxsize=None)
def approx_size(key: str) -> int:
    """Bytes of ``key``'s file: the registry's size when known, else the bytes of the architecture's tensors
    (built on the meta device; the file adds only a little pickle framing)."""
    spec = _spec(key)
    if spec.size is not None:
        return spec.size
    with torch.device("meta"):
        module = spec.architecture()
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def size_text(size: float) -> str:
    """``about 0.4 GB`` / ``about 288 MB``: a size in words."""
    return f"about {size / 1e9:.1f} GB" if size >= 1e9 else f"about {size / 1e6:.0f} MB"


def total_size_text() -> str:
    """The size of every registered file together, in words."""
    return size_text(sum(approx_size(key) for key in REGISTRY))


# --------------------------------------------------------------------------------------------------- verify
def _expected_shapes(spec: WeightSpec) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the architecture's state dict, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        module = spec.architecture()
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def _not_this_file(spec: WeightSpec) -> str:
    """The window's words for a file that fails a check."""
    return (f"this is not the {spec.plain_name} weights file (expected {spec.filename}, "
            f"{size_text(approx_size(spec.key))}, from {spec.url})")


def _extract_state(spec: WeightSpec, loaded: object, path: Path) -> dict[str, torch.Tensor]:
    state = loaded.get(spec.state_key) if spec.state_key and isinstance(loaded, dict) else loaded
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        where = f"entry {spec.state_key!r}" if spec.state_key else "file"
        raise WeightsError(f"{path}: not a {spec.title} checkpoint (its {where} is not a state dict)",
                           _not_this_file(spec))
    return state


def _check_shapes(spec: WeightSpec, state: dict[str, torch.Tensor], path: Path) -> None:
    """Strict key/shape match against the architecture (only BatchNorm counters may be absent)."""
    expected = _expected_shapes(spec)
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL_KEY_SUFFIXES)]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        parts = []
        for label, names in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
            if names:
                parts.append(f"{len(names)} {label} (e.g. {', '.join(names[:3])})")
        raise WeightsError(f"{path}: does not fit the {spec.title} architecture: {'; '.join(parts)}",
                           _not_this_file(spec))


def _load_verified_state(spec: WeightSpec, path: Path, shown: Path | None = None) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` + state extraction + shape check; WeightsError on any failure.

    Messages name ``shown`` (the user's file when ``path`` is a temporary copy of it)."""
    shown = shown or path
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a safe checkpoint"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{shown}: not a loadable weights-only torch checkpoint ({reason})",
                           _not_this_file(spec)) from None
    state = _extract_state(spec, loaded, shown)
    _check_shapes(spec, state, shown)
    return state


def _verify_candidate(spec: WeightSpec, path: Path, sha256: str, shown: Path | None = None) -> None:
    """Every check a new file must pass before it enters the cache."""
    if spec.sha256_prefix and not sha256.startswith(spec.sha256_prefix):
        raise WeightsError(
            f"{shown or path}: sha256 {sha256[:16]}... does not start with {spec.sha256_prefix} as the official "
            f"{spec.filename} does: wrong or damaged file",
            _not_this_file(spec),
        )
    _load_verified_state(spec, path, shown)


def _install(spec: WeightSpec, candidate: Path, sha256: str, source: str) -> Path:
    """Write the record, then move the verified candidate into place atomically (record first: never a
    verified-looking file without its record)."""
    target = weight_path(spec.key)
    record = {
        "key": spec.key,
        "filename": spec.filename,
        "backbone_id": spec.backbone_id,
        "sha256": sha256,
        "size": candidate.stat().st_size,
        "source": source,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomically(_record_path(target), json.dumps(record, indent=2))
    os.replace(candidate, target)
    return target


def load_state_dict(key: str) -> dict[str, torch.Tensor]:
    """The verified state dict of ``key`` from the cache (sha256 re-checked against the record).

    Raises :class:`WeightsError` when the file is missing or corrupt, saying how to get it.
    """
    status = weight_status(key)
    if status.state != WeightState.PRESENT:
        raise WeightsError(describe_problems([status]), plain_problems([status]))
    return _load_verified_state(_spec(key), status.path)


def require(keys: Iterable[str], *, allow_missing: bool = False) -> list[WeightStatus]:
    """The status of each key; one :class:`WeightsError` naming every problem file.

    With ``allow_missing`` a missing file is no problem (the caller builds random weights and says so);
    a corrupt file always is.
    """
    statuses = [weight_status(key) for key in keys]
    bad = [s for s in statuses if s.state == WeightState.CORRUPT or (s.state == WeightState.MISSING and not allow_missing)]
    if bad:
        raise WeightsError(describe_problems(bad), plain_problems(bad))
    return statuses


def load_cached(keys: Iterable[str], *, allow_missing: bool = False) -> dict[str, dict[str, torch.Tensor] | None]:
    """State dicts of several keys (a missing file maps to None with ``allow_missing``), checked by :func:`require`."""
    return {
        s.key: _load_verified_state(_spec(s.key), s.path) if s.state == WeightState.PRESENT else None
        for s in require(keys, allow_missing=allow_missing)
    }


# --------------------------------------------------------------------------------------------------- download
def download(
    key: str,
    *,
    url: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Fetch ``key`` (from ``url`` or the official URL) into the cache, verified; returns its path.

    Resumes a previous ``.part`` with an HTTP Range request (starts over when the server ignores it); on
    cancel raises :class:`Cancelled` and keeps the ``.part``; on a network error raises :class:`WeightsError`
    (keeping the ``.part`` to resume); a file failing verification is deleted and raises :class:`WeightsError`.
    """
    spec = _spec(key)
    source = url or spec.url
    target = weight_path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(target)
    try:
        _fetch(spec, source, part, progress, cancel)
    except Cancelled:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        have = part.stat().st_size if part.exists() else 0
        if _is_offline(exc):
            plain = (f"no internet connection: download the files elsewhere and use Import file… "
                     f"({spec.filename} from {source})")
        else:
            plain = (f"the download of {spec.plain_name} stopped after {have / 1e6:.1f} MB ({_network_reason(exc)}): "
                     f"Download again resumes it")
        raise WeightsError(
            f"downloading {spec.filename} from {source} failed after {have / 1e6:.1f} MB "
            f"({_network_reason(exc)}); run the download again to resume (`{DOWNLOAD_COMMAND}`), or fetch the "
            f"file elsewhere and run `{IMPORT_COMMAND}`",
            plain,
        ) from None
    size = part.stat().st_size
    report(progress, size, size, f"verifying {spec.filename}")
    sha256 = sha256_of(part, cancel=cancel)
    try:
        _verify_candidate(spec, part, sha256)
    except WeightsError:
        part.unlink(missing_ok=True)
        raise
    return _install(spec, part, sha256, source)


def _is_offline(exc: Exception) -> bool:
    """No connection at all (name lookup failed, refused, unreachable, timed out), not a server's answer."""
    return isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError) and isinstance(
        exc.reason, OSError)


def _network_reason(exc: Exception) -> str:
    """A short cause for a failed transfer (urllib's own strings are noisy)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    return str(exc) or type(exc).__name__


def _fetch(spec: WeightSpec, url: str, part: Path, progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
    """Stream ``url`` into ``part``, appending to what an earlier attempt left when the server honours Range."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "emomv-desktop"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS)  # noqa: S310 - http(s) URLs only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is already complete
            return
        raise
    with response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else spec.size
        with open(part, "ab" if resumed else "wb") as out:
            done = have
            while True:
                check(cancel)
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                report(progress, done, total, f"downloading {spec.filename}")
        if total is not None and done < total:
            raise OSError(f"connection closed at {done} of {total} bytes")


# --------------------------------------------------------------------------------------------------- import
def import_file(
    key: str,
    src: Path | str,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Copy a weight file fetched elsewhere into the cache, through the same checks as a download.

    ``progress`` receives bytes copied; ``cancel`` stops the copy (raising :class:`Cancelled`, cache untouched).
    """
    spec = _spec(key)
    src = Path(src)
    if not src.is_file():
        raise WeightsError(f"{src}: no such file to import as {spec.title}")
    target = weight_path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=spec.filename + ".", suffix=".import", dir=target.parent)
    candidate = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            sha256 = _copy_hashing(src, out, progress, cancel, f"importing {src.name}")
        _verify_candidate(spec, candidate, sha256, shown=src)
        return _install(spec, candidate, sha256, f"import:{src.name}")
    finally:
        candidate.unlink(missing_ok=True)


def _copy_hashing(
    src: Path, out: BinaryIO, progress: ProgressCallback | None, cancel: CancelToken | None, message: str
) -> str:
    """Copy ``src`` into ``out`` in chunks, reporting bytes, honouring cancel; returns the hex sha256."""
    digest = hashlib.sha256()
    total = src.stat().st_size
    done = 0
    with open(src, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES * 8):
            check(cancel)
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            report(progress, done, total, message)
    return digest.hexdigest()
