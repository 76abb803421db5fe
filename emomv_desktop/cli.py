"""``emomv-desktop``: the GUI by default, headless commands for scripts and terminals.

    emomv-desktop [VIDEO]                      open the GUI (optionally with a video)
    emomv-desktop index [DIR...]               add folders to the library and index them (default: all folders)
    emomv-desktop suggest VIDEO [--top N] [--json] [--emotion E] [--min-duration S|video] [--text T]
    emomv-desktop library status [--json] | library remove DIR
    emomv-desktop models status | models download [KEY...] [--url URL] | models import FILE [--key KEY]

Errors a user can fix print one line on stderr and exit 1 (``--debug`` adds the traceback); a cancelled
run (Ctrl-C) exits 130. The headless commands never import Qt.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TextIO

from .engine.emotions import EMOTION_LABELS, Emotion
from .engine.errors import EngineError, PathError
from .engine.jobs import CancelToken, Progress

PROG = "emomv-desktop"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CANCELLED = 130
VIDEO_LENGTH = "video"
"""``--min-duration video``: only tracks at least as long as the video."""

SUGGESTIONS_FORMAT = "emomv-desktop/suggestions"
SUGGESTIONS_VERSION = 1
STATUS_FORMAT = "emomv-desktop/library-status"


class CliError(EngineError):
    """A request the CLI cannot serve as given (nothing to index, empty library, ambiguous file)."""


# --------------------------------------------------------------------------------------------- output
def format_time(seconds: float | None) -> str:
    """``75.4`` -> ``"01:15"``; an hour or more -> ``"1:02:03"``."""
    if seconds is None:
        return "--:--"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """A one-line progress bar on a terminal (nothing when ``stream`` is not one); a ``Progress`` callback.

    Thread-safe (the indexer reports from its extraction thread) and throttled to ``hz`` redraws.
    """

    def __init__(self, stream: TextIO, *, enabled: bool | None = None, width: int = 28, hz: float = 10.0) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.width = width
        self.interval = 1.0 / hz
        self._last = 0.0
        self._drawn = False
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval and progress.done != progress.total:
                return
            self._last = now
            self.stream.write("\r" + self.render(progress) + "\x1b[K")
            self.stream.flush()
            self._drawn = True

    def render(self, progress: Progress) -> str:
        fraction = progress.fraction
        if fraction is None:
            bar, count = "", f"{progress.done:g}"
        else:
            filled = int(fraction * self.width)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
            count = f"{progress.done:.0f}/{progress.total:.0f}"
        rate = getattr(progress, "tracks_per_minute", None)
        rate_text = f" {rate:.1f} tracks/min" if rate else ""
        message = progress.message if len(progress.message) <= 48 else "..." + progress.message[-45:]
        return f"{bar}{count}{rate_text} {message}"

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


@contextlib.contextmanager
def _progress_bar() -> Iterator[ProgressBar]:
    bar = ProgressBar(sys.stderr)
    try:
        yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def _cancel_on_interrupt() -> Iterator[CancelToken]:
    """Ctrl-C sets the token (the job stops cleanly at the next check); a second Ctrl-C interrupts hard."""
    token = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield token
        return

    def handler(signum: int, frame: object) -> None:
        token.cancel()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _emotion_dict(probs: Any) -> dict[str, float] | None:
    return None if probs is None else {label: round(float(p), 6) for label, p in zip(EMOTION_LABELS, probs)}


def _emotion_text(emotion: Emotion | None, probs: Any) -> str:
    return "-" if emotion is None else f"{emotion.label} {float(probs[int(emotion)]):.0%}"


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# ------------------------------------------------------------------------------------------- commands
def _open_library(args: argparse.Namespace):
    from .engine.library import Library

    return Library(args.library)


def _device(args: argparse.Namespace):
    from .engine.pipeline import select_device

    return select_device(None if args.device == "auto" else args.device)


def _cmd_index(args: argparse.Namespace) -> int:
    from .engine.paths import display_path

    for folder in args.dirs:
        if not Path(folder).is_dir():
            raise PathError(folder, "not a folder (index takes music folders)")
    with _open_library(args) as library:
        if not args.dirs and not library.folders():
            raise CliError(f"the library has no folders yet; add one with `{PROG} index DIR`")
        from .engine import pipeline  # torch: only once the cheap checks passed
        from .engine.indexer import index_library

        extractor = pipeline.load_vggish(_device(args))
        with _cancel_on_interrupt() as token, _progress_bar() as bar:
            report = index_library(library, extractor, folders=args.dirs or None, progress=bar, cancel=token)
    rate = 60 * (report.indexed + report.failed) / report.seconds if report.seconds else 0.0
    speed = report.audio_seconds / report.seconds if report.seconds else 0.0
    print(
        f"{'cancelled: ' if report.cancelled else ''}indexed {report.indexed}, unchanged {report.unchanged}, "
        f"failed {report.failed}, removed {report.removed} in {report.seconds:.1f} s "
        f"({rate:.1f} tracks/min, {speed:.1f} s of audio per s)"
    )
    for path, reason in report.errors:
        print(f"  error: {display_path(path)}: {reason}")
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _filter_values(args: argparse.Namespace) -> tuple[frozenset[Emotion] | None, float | None]:
    """``--emotion`` and ``--min-duration`` parsed up front, so a typo fails before the video is analysed.

    ``--min-duration video`` is resolved once the video's length is known (None here).
    """
    min_duration = None
    if args.min_duration is not None and args.min_duration != VIDEO_LENGTH:
        try:
            min_duration = float(args.min_duration)
        except ValueError:
            raise CliError(f"--min-duration takes seconds or '{VIDEO_LENGTH}', not {args.min_duration!r}") from None
    try:
        emotions = frozenset(Emotion.parse(e) for e in args.emotion) if args.emotion else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return emotions, min_duration


def _clips(args: argparse.Namespace) -> dict[str, int]:
    if args.clips is None:
        return {}
    if args.clips < 1:
        raise CliError("--clips must be at least 1")
    return {"clips_per_window": args.clips}


def _cmd_suggest(args: argparse.Namespace) -> int:
    video = Path(args.video)
    if not video.is_file():
        raise PathError(video, "video file not found")
    if args.top is not None and args.top < 1:
        raise CliError("--top must be at least 1")
    clips = _clips(args)
    emotions, min_duration = _filter_values(args)
    with _open_library(args) as library:
        if library.stats().indexed == 0:
            raise CliError(f"the library has no indexed tracks; add music with `{PROG} index DIR`")
        from .engine import pipeline  # torch: only once the cheap checks passed
        from .engine.ranking import RankFilter, Ranker, analyse_video, check_filter

        models = pipeline.load_models(_device(args), args.model, **clips)
        model = models.retrieval.model
        filters = RankFilter(emotions=emotions, min_duration=min_duration, text=args.text)
        check_filter(model, filters)  # before minutes of video analysis
        with _cancel_on_interrupt() as token, _progress_bar() as bar:
            query = analyse_video(video, models.slowfast, model, progress=bar, cancel=token)
            if args.min_duration == VIDEO_LENGTH:
                filters = dataclasses.replace(filters, min_duration=query.duration)
            ranker = Ranker(library, model, models.retrieval.model_id, backbone_id=models.vggish.backbone_id)
            ranker.prepare(progress=bar, cancel=token)
            suggestions = ranker.rank(query, top=args.top, filters=filters)
    if args.json:
        _print_json(_suggestions_json(query, models.retrieval, filters, suggestions))
    else:
        _print_suggestions(query, suggestions)
    return EXIT_OK


def _suggestions_json(query, retrieval, filters, suggestions) -> dict[str, Any]:
    """The ``suggest --json`` document (format documented in docs/engine-library.md; bump the version on change)."""
    from .engine.paths import display_path

    return {
        "format": SUGGESTIONS_FORMAT,
        "version": SUGGESTIONS_VERSION,
        "video": {
            "path": display_path(query.path),
            "duration": query.duration,
            "emotion": None if query.emotion is None else query.emotion.label,
            "emotion_probs": _emotion_dict(query.emotion_probs),
        },
        "model": {"path": display_path(retrieval.path), "id": retrieval.model_id, "multitask": retrieval.multitask},
        "filters": {
            "emotions": None if filters.emotions is None else sorted(e.label for e in filters.emotions),
            "min_duration": filters.min_duration,
            "text": filters.text,
        },
        "suggestions": [
            {
                "rank": s.rank,
                "path": display_path(s.path),
                "title": s.title,
                "artist": s.artist,
                "album": s.album,
                "duration": s.duration,
                "score": round(s.score, 6),
                "best_section": {"start": round(s.best_start, 3), "end": round(s.best_end, 3)},
                "emotion": None if s.emotion is None else s.emotion.label,
                "emotion_probs": _emotion_dict(s.emotion_probs),
            }
            for s in suggestions
        ],
    }


def _print_suggestions(query, suggestions) -> None:
    from .engine.paths import display_path

    mood = "n/a (single-task model)" if query.emotion is None else _emotion_text(query.emotion, query.emotion_probs)
    print(f"{display_path(query.path)}  {format_time(query.duration)}  video emotion: {mood}")
    if not suggestions:
        print("no track matches the filters")
        return
    print(f"{'#':>3}  {'score':>6}  {'best section':<13}  {'emotion':<13}  {'length':>7}  track")
    for s in suggestions:
        name = " - ".join(x for x in (s.artist, s.title) if x) or s.path.name
        section = f"{format_time(s.best_start)}-{format_time(s.best_end)}"
        print(
            f"{s.rank:>3}  {s.score:6.3f}  {section:<13}  {_emotion_text(s.emotion, s.emotion_probs):<13}  "
            f"{format_time(s.duration):>7}  {name}  ({display_path(s.path)})"
        )


def _cmd_library_status(args: argparse.Namespace) -> int:
    from .engine.paths import display_path

    with _open_library(args) as library:
        stats = library.stats()
        folders = library.folders()
        failures = library.failures()
    if args.json:
        _print_json(
            {
                "format": STATUS_FORMAT,
                "version": 1,
                "database": display_path(library.path),
                "folders": [display_path(f) for f in folders],
                **dataclasses.asdict(stats),
                "failures": [{"path": display_path(t.path), "error": t.error} for t in failures],
            }
        )
        return EXIT_OK
    print(f"library: {display_path(library.path)} ({stats.db_bytes / 1e6:.1f} MB)")
    print(f"folders: {', '.join(display_path(f) for f in folders) or '(none)'}")
    print(f"tracks: {stats.tracks} ({stats.indexed} indexed, {stats.failed} failed), {stats.windows} windows")
    for track in failures:
        print(f"  failed: {display_path(track.path)}: {track.error}")
    return EXIT_OK


def _cmd_library_remove(args: argparse.Namespace) -> int:
    with _open_library(args) as library:
        dropped = library.remove_folder(args.dir)
    print(f"removed {args.dir} and its {dropped} tracks from the library")
    return EXIT_OK


def _cmd_models_status(args: argparse.Namespace) -> int:
    from .engine import pipeline, weights

    for key in weights.REGISTRY:
        status = weights.weight_status(key)
        print(f"{key}: {status.state.value}: {status.message}")
    try:
        loaded = pipeline.load_retrieval_model(args.model)
    except EngineError as exc:
        print(f"retrieval model: missing: {exc}")
    else:
        kind = "multi-task" if loaded.multitask else "single-task (no emotion predictions)"
        print(f"retrieval model: present: {loaded.path} ({kind}, id {loaded.model_id[:12]})")
    return EXIT_OK


def _cmd_models_download(args: argparse.Namespace) -> int:
    from .engine import weights

    keys = args.keys or [k for k in weights.REGISTRY if weights.weight_status(k).state != weights.WeightState.PRESENT]
    if args.url and len(keys) != 1:
        raise CliError("--url needs exactly one weight key (e.g. `models download vggish --url URL`)")
    for key in keys:
        with _cancel_on_interrupt() as token, _progress_bar() as bar:
            path = weights.download(key, url=args.url, progress=bar, cancel=token)
        print(f"{key}: {path}")
    if not keys:
        print("all backbone weights are present")
    return EXIT_OK


def _import_key(file: Path, key: str | None) -> str:
    from .engine import weights

    if key is not None:
        return key
    for spec in weights.REGISTRY.values():
        if spec.filename == file.name:
            return spec.key
    names = ", ".join(f"{s.filename} ({s.key})" for s in weights.REGISTRY.values())
    raise CliError(f"{file.name} is not an official weight file name ({names}); say which with --key")


def _cmd_models_import(args: argparse.Namespace) -> int:
    from .engine import weights

    file = Path(args.file)
    path = weights.import_file(_import_key(file, args.key), file)
    print(f"imported {file} -> {path}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------- parsing
COMMANDS = ("index", "suggest", "library", "models")


def _global_options(parser: argparse.ArgumentParser, *, leaf: bool = False) -> None:
    """``--debug`` and ``--library``, accepted before the command and (``leaf``) after it."""
    defaults = {"default": argparse.SUPPRESS} if leaf else {}
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors", **defaults)
    parser.add_argument("--library", type=Path, help="library database (default: EMOMV_LIBRARY_DB or the user "
                        "data folder)", **defaults)


def _device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the networks run (auto: CUDA when available)")


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="retrieval model file (default: EMOMV_MODEL or "
                        "the shipped model)")


class _Commands:
    """A required sub-command group whose leaves also accept the global options."""

    def __init__(self, parent: argparse.ArgumentParser, dest: str) -> None:
        self._subs = parent.add_subparsers(dest=dest, metavar="COMMAND")
        self._subs.required = True

    def add_parser(self, name: str, *, help: str, leaf: bool = True) -> argparse.ArgumentParser:
        parser = self._subs.add_parser(name, help=help, description=help)
        if leaf:
            _global_options(parser, leaf=True)
        return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Find music for a video by emotion (EmoMV). Without a "
                                     "command (or with a video path) the window opens.")
    _global_options(parser)
    commands = _Commands(parser, "command")

    index = commands.add_parser("index", help="add folders to the library and index their audio files")
    index.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="music folders (default: all known)")
    _device_option(index)
    index.set_defaults(handler=_cmd_index)

    suggest = commands.add_parser("suggest", help="rank the library's tracks for a video")
    suggest.add_argument("video", type=Path, metavar="VIDEO")
    suggest.add_argument("--top", type=int, default=10, help="how many tracks (default 10)")
    suggest.add_argument("--json", action="store_true", help="machine-readable output (see docs/engine-library.md)")
    suggest.add_argument("--emotion", action="append", metavar="E", help=f"only tracks with this predicted emotion "
                         f"({', '.join(EMOTION_LABELS)}); repeatable")
    suggest.add_argument("--min-duration", metavar=f"S|{VIDEO_LENGTH}", help="only tracks at least this long "
                         f"(seconds, or '{VIDEO_LENGTH}' for the video's length)")
    suggest.add_argument("--text", help="only tracks whose title, artist, album or path contains this")
    suggest.add_argument("--clips", type=int, metavar="N", help="video clips analysed per 30 s window (more: slower, "
                         "steadier; default: the engine's)")
    _device_option(suggest)
    _model_option(suggest)
    suggest.set_defaults(handler=_cmd_suggest)

    library = _Commands(commands.add_parser("library", help="inspect or change the library", leaf=False), "action")
    status = library.add_parser("status", help="folders, counts, failed files")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_cmd_library_status)
    remove = library.add_parser("remove", help="remove a folder and its tracks")
    remove.add_argument("dir", type=Path, metavar="DIR")
    remove.set_defaults(handler=_cmd_library_remove)

    models = _Commands(
        commands.add_parser("models", help="pretrained backbones and the retrieval model", leaf=False), "action"
    )
    mstatus = models.add_parser("status", help="which weights and model are present")
    _model_option(mstatus)
    mstatus.set_defaults(handler=_cmd_models_status)
    download = models.add_parser("download", help="download the official backbone weights (resumable)")
    download.add_argument("keys", nargs="*", metavar="KEY", help="slowfast_r50, vggish (default: what is missing)")
    download.add_argument("--url", help="download from this URL instead (a mirror)")
    download.set_defaults(handler=_cmd_models_download)
    mimport = models.add_parser("import", help="import a weight file fetched elsewhere (offline machines)")
    mimport.add_argument("file", type=Path, metavar="FILE")
    mimport.add_argument("--key", help="which weights the file holds (default: from its official name)")
    mimport.set_defaults(handler=_cmd_models_import)
    return parser


def _gui_request(argv: list[str]) -> tuple[argparse.Namespace, str | None] | None:
    """``(options, video)`` when ``argv`` asks for the window (no command, or a video path); else None."""
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    _global_options(parser)
    options, rest = parser.parse_known_args(argv)
    if rest and (rest[0] in COMMANDS or rest[0].startswith("-")):
        return None
    if len(rest) > 1:
        return None  # let the full parser explain the usage error
    return options, (rest[0] if rest else None)


def _run_gui(video: str | None) -> int:
    from .app import run_gui  # Qt is imported only here

    return run_gui(video=video)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _guarded(run: Callable[[], int], debug: bool) -> int:
    """Run a command: known errors -> one line on stderr and exit 1 (traceback first with ``--debug``)."""
    try:
        return run()
    except EngineError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_CANCELLED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emomv-desktop`` and ``python -m emomv_desktop``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    gui = _gui_request(argv)
    if gui is not None:
        options, video = gui
        return _guarded(lambda: _run_gui(video), options.debug)
    args = build_parser().parse_args(argv)
    return _guarded(lambda: args.handler(args), args.debug)
