"""``emomv-desktop``: the GUI by default, headless commands for scripts and terminals.

    emomv-desktop [VIDEO]                      open the GUI (optionally with a video)
    emomv-desktop index [DIR...]               add folders to the library and index them (default: all folders)
    emomv-desktop suggest VIDEO [--top N] [--json] [--emotion E] [--min-duration S|video] [--text T]
                               [--bpm LO-HI] [--scenes [--covering] [--min-scene S] [--merge-threshold C]]
    emomv-desktop export CHOICES.json [--timeline OUT.{otio,xml,fcpxml,edl}] [--cue-sheet OUT.csv] [--fade S]
    emomv-desktop suggest AUDIO [--sound-weight W] | suggest IMAGE [IMAGE...] | suggest FOLDER_OF_IMAGES
                  [--like ID] [--dislike ID]      a temp track, stills or a mood board; more like / not like
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
from .engine.errors import EngineError
from .engine.export import RESULTS_FORMAT as SUGGESTIONS_FORMAT
from .engine.export import RESULTS_VERSION as SUGGESTIONS_VERSION
from .engine.jobs import CancelToken, Progress
from .engine.loading import RANDOM_NETWORKS_ENV, Backends, random_networks_requested
from .engine.text import clock, damage_note, error_line

PROG = "emomv-desktop"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CANCELLED = 130
VIDEO_LENGTH = "video"
"""``--min-duration video``: only tracks at least as long as the video."""

STATUS_FORMAT = "emomv-desktop/library-status"
RANDOM_NETWORKS_NOTE = (f"{PROG}: note: random networks ({RANDOM_NETWORKS_ENV}=1, demo/test mode): "
                        "these results mean nothing")


class CliError(EngineError):
    """A request the CLI cannot serve as given (nothing to index, empty library, ambiguous file)."""


# --------------------------------------------------------------------------------------------- output
class ProgressBar:
    """A ``Progress`` callback drawing a tqdm bar on a terminal (nothing when ``stream`` is not one).

    Thread-safe (the indexer reports from its extraction thread) and throttled to ``hz`` redraws. The engine
    says how far it is (``done``/``total``, a message, a rate for indexing); tqdm draws it.
    """

    KNOWN = "[{bar:%d}] {percentage:3.0f}%% {n:.0f}/{total:.0f}{desc}"
    UNKNOWN = "{n:g}{desc}"

    def __init__(self, stream: TextIO, *, enabled: bool | None = None, width: int = 28, hz: float = 10.0) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.width = width
        self.interval = 1.0 / hz
        self._last = 0.0
        self._bar: Any = None
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval and progress.done != progress.total:
                return
            self._last = now
            self._draw(progress)

    def _draw(self, progress: Progress) -> None:
        from tqdm import tqdm

        rate = getattr(progress, "tracks_per_minute", None)
        message = progress.message if len(progress.message) <= 48 else "..." + progress.message[-45:]
        desc = (f" {rate:.1f} tracks/min" if rate else "") + f" {message}"
        known = progress.fraction is not None
        bar_format = self.KNOWN % self.width if known else self.UNKNOWN
        if self._bar is None:
            self._bar = tqdm(file=self.stream, leave=False, ascii=".#", bar_format=bar_format, dynamic_ncols=False,
                             mininterval=0, total=progress.total if known else None, desc=desc)
        self._bar.bar_format = bar_format
        self._bar.total = progress.total if known else None
        self._bar.n = progress.done
        self._bar.set_description_str(desc, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._bar = None


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


def _emotion_text(emotion: Emotion | None, probs: Any) -> str:
    return "-" if emotion is None else f"{emotion.label} {float(probs[int(emotion)]):.0%}"


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _note_random_networks(random_networks: bool) -> None:
    """The one stderr line of the demo/test mode, printed wherever a result is."""
    if random_networks:
        print(RANDOM_NETWORKS_NOTE, file=sys.stderr)


# ------------------------------------------------------------------------------------------- commands
def _backends(args: argparse.Namespace, **overrides: Any) -> Backends:
    """Where this command's models and library come from (demo mode only with ``EMOMV_RANDOM_NETWORKS=1``)."""
    device = getattr(args, "device", "auto")
    precision = getattr(args, "precision", "auto")
    return Backends.from_environment(device=None if device == "auto" else device, library_path=args.library,
                                     model_path=getattr(args, "model", None),
                                     precision=None if precision == "auto" else precision, **overrides)


def _cmd_index(args: argparse.Namespace) -> int:
    from .engine.paths import display_path
    from .engine.service import IndexSession, LibraryReader

    backends = _backends(args)
    session = IndexSession(backends)
    if not args.dirs:
        with LibraryReader(backends) as reader:
            if not reader.snapshot().folders:
                raise CliError(f"the library has no folders yet; add one with `{PROG} index DIR`")
    with _cancel_on_interrupt() as token, _progress_bar() as bar:
        report = session.index(args.dirs or None, bar, token)
    rate = 60 * (report.indexed + report.failed) / report.seconds if report.seconds else 0.0
    speed = report.audio_seconds / report.seconds if report.seconds else 0.0
    print(
        f"{'cancelled: ' if report.cancelled else ''}indexed {report.indexed}, unchanged {report.unchanged}, "
        f"failed {report.failed}, removed {report.removed}"
        f"{f', skipped {report.skipped}' if report.skipped else ''}"
        f"{f', beats tracked for {report.beats_tracked} earlier tracks' if report.beats_tracked else ''}"
        f"{f', loudness measured for {report.loudness_measured} earlier tracks' if report.loudness_measured else ''}"
        f" in {report.seconds:.1f} s "
        f"({rate:.1f} tracks/min, {speed:.1f} s of audio per s)"
    )
    for path, reason in report.errors:
        print(f"  error: {display_path(path)}: {reason}")
    _note_random_networks(session.random_networks)
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _filter_values(args: argparse.Namespace) -> tuple[frozenset[Emotion] | None, float | None]:
    """``--emotion`` and ``--min-duration`` parsed up front, so a typo fails before anything loads.

    ``--min-duration video`` is resolved once the video's length is known (None here; the service does it).
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


def _bpm_range(text: str | None) -> tuple[float | None, float | None]:
    """``--bpm 90-130`` (also ``90-`` or ``-130``) -> the filter's bounds."""
    if text is None:
        return None, None
    low, sep, high = text.partition("-")
    try:
        bounds = (float(low) if low.strip() else None, float(high) if high.strip() else None)
    except ValueError:
        bounds = None
    if not sep or bounds is None or bounds == (None, None) or (None not in bounds and bounds[0] > bounds[1]):
        raise CliError(f"--bpm takes a range like 90-130 (or 90- / -130), not {text!r}")
    return bounds


def _cmd_suggest(args: argparse.Namespace) -> int:
    from .engine import service

    kind = _query_kind(args.inputs)
    if kind != "video":
        return _cmd_suggest_query(args, kind)
    if args.sound_weight is not None:
        raise CliError("--sound-weight is for a temp track (an audio file)")
    video = service.check_video_path(args.inputs[0])
    if args.top is not None and args.top < 1:
        raise CliError("--top must be at least 1")
    if args.clips is not None and args.clips < 1:
        raise CliError("--clips must be at least 1")
    emotions, min_duration = _filter_values(args)
    bpm_min, bpm_max = _bpm_range(args.bpm)
    if args.scenes and args.min_duration == VIDEO_LENGTH:
        raise CliError("--scenes ranks each scene for its own length: use --covering instead of --min-duration video")
    backends = _library_backends(args)
    service.probe_video(video)  # a bad video is refused before torch is even imported
    from .engine.ranking import RankFilter

    filters = RankFilter(emotions=emotions, min_duration=min_duration, text=args.text, bpm_min=bpm_min,
                         bpm_max=bpm_max)
    if args.scenes:
        return _in_session(backends, lambda session, bar, token: _suggest_scenes(session, video, args, filters,
                                                                                bar, token))
    feedback = _feedback(args)

    def work(session, bar, token):
        analysis = session.analyse(video, args.top, bar, token, filters=filters,
                                   at_least_video_length=args.min_duration == VIDEO_LENGTH)
        return session.apply_feedback(analysis, feedback, args.top) if feedback else analysis

    analysis = _in_session(backends, work)
    features = analysis.query.features
    note = None if features is None else damage_note(features.skipped_clips, features.skipped_seconds)
    return _print_analysis(args, analysis, notes=[note] if note else [])


def _query_kind(inputs: Sequence[Path]) -> str:
    """"video", "temp_track" or "stills" for ``suggest``'s inputs, by their content (``service.probe_input``).

    Whatever is no audio file and no images (including what cannot be probed) goes the video way, which says
    what is wrong with it.
    """
    from .engine import service

    kinds = []
    for path in inputs:
        try:
            kinds.append(service.probe_input(path))
        except EngineError:
            kinds.append("video")
    if len(inputs) == 1:
        return {"audio": "temp_track", "images": "stills"}.get(kinds[0], "video")
    if set(kinds) != {"images"}:
        odd = next(p for p, k in zip(inputs, kinds) if k != "images")
        raise CliError(f"{odd}: several inputs are a mood board, and this is no image (give one video, one "
                       "audio file, or images)")
    return "stills"


def _feedback(args: argparse.Namespace) -> "Any":
    """``--like``/``--dislike`` as the engine's ``Feedback`` (None when neither is given)."""
    if not args.like and not args.dislike:
        return None
    from .engine.queries import Feedback

    try:
        return Feedback(frozenset(args.like or ()), frozenset(args.dislike or ()))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _cmd_suggest_query(args: argparse.Namespace, kind: str) -> int:
    """``suggest`` for a temp track or stills (``kind``): the same filters, output and feedback as a video."""
    from .engine import service
    from .engine.ranking import RankFilter

    if args.top is not None and args.top < 1:
        raise CliError("--top must be at least 1")
    if args.min_duration == VIDEO_LENGTH:
        raise CliError(f"--min-duration {VIDEO_LENGTH} needs a video; give seconds")
    if kind != "temp_track" and args.sound_weight is not None:
        raise CliError("--sound-weight is for a temp track (an audio file)")
    emotions, min_duration = _filter_values(args)
    feedback = _feedback(args)
    backends = _library_backends(args)
    filters = RankFilter(emotions=emotions, min_duration=min_duration, text=args.text)

    def work(session, bar, token):
        if kind == "temp_track":
            weight = {} if args.sound_weight is None else {"sound_weight": args.sound_weight}
            analysis = session.query_temp_track(args.inputs[0], args.top, bar, token, filters=filters, **weight)
        else:
            analysis = session.query_stills(args.inputs, args.top, bar, token, filters=filters)
        return session.apply_feedback(analysis, feedback, args.top) if feedback else analysis

    analysis = _in_session(backends, work)
    return _print_analysis(args, analysis, heading=_query_header(analysis),
                           notes=[service.STILLS_NOTE] if kind == "stills" else [])


def _library_backends(args: argparse.Namespace) -> Any:
    """``suggest``'s backends, once the library is known to hold indexed tracks."""
    from .engine import service

    backends = _backends(args, clips_per_window=args.clips)
    with service.LibraryReader(backends, create=False) as reader:
        if reader.snapshot().stats.indexed == 0:
            raise CliError(f"the library has no indexed tracks; add music with `{PROG} index DIR`")
    return backends


def _in_session(backends, work: Callable[[Any, Any, Any], Any]) -> Any:
    """``work(session, progress, cancel)`` on a loaded inference session, with a progress bar; Ctrl+C cancels."""
    from .engine import service

    session = service.InferenceSession(backends)
    try:
        with _cancel_on_interrupt() as token, _progress_bar() as bar:
            session.load(bar, token)
            return work(session, bar, token)
    finally:
        session.close()


def _print_analysis(args: argparse.Namespace, analysis, *, heading: str | None = None,
                    notes: Sequence[str] = ()) -> int:
    """``suggest``'s output for a query of any kind: its JSON document or its table, then the notes (stderr)."""
    if args.json:
        _print_json(analysis.document())
    else:
        _print_suggestions(analysis.query, analysis.suggestions, heading=heading)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    _note_random_networks(analysis.random_networks)
    return EXIT_OK


def _query_header(analysis) -> str:
    """The first line of ``suggest``'s text output for a temp track or stills."""
    from .engine.paths import display_path
    from .engine.text import section

    query = analysis.query
    if analysis.kind == "stills":
        count = len(analysis.images)
        return display_path(analysis.images[0]) if count == 1 else f"{count} stills"
    source = display_path(query.source) if isinstance(query.source, Path) else f"track {query.source}"
    return f"temp track {source}  {section(*query.section)}  (sound weight {analysis.sound_weight:g})"


def _suggest_scenes(session, video: Path, args: argparse.Namespace, filters, bar, token) -> int:
    """``suggest --scenes``: cut the video into scenes and rank every scene's cue (and the whole video's) with
    sections of the cue's length on the beat."""
    scenes = session.analyse_scenes(video, bar, token, min_scene_seconds=args.min_scene,
                                    merge_threshold=args.merge_threshold)

    def rank(cue):
        wanted = dataclasses.replace(filters, min_duration=cue.duration) if args.covering else filters
        return session.rank_cue(scenes, cue, args.top, bar, token, filters=wanted)

    whole = rank(scenes.whole)
    cues = [rank(cue) for cue in scenes.cues]
    if args.json:
        _print_json(scenes.document(whole, cues))
    else:
        _print_suggestions(whole.query, whole.suggestions)
        for analysis in cues:
            cue = analysis.cue
            print()
            _print_suggestions(analysis.query, analysis.suggestions,
                               heading=f"{cue.label}  {clock(cue.start)}-{clock(cue.end)}  ({cue.duration:.1f} s)")
    _note_random_networks(whole.random_networks)
    return EXIT_OK


def _print_suggestions(query, suggestions, *, heading: str | None = None) -> None:
    from .engine.paths import display_path
    from .engine.text import section

    mood = "n/a (single-task model)" if query.emotion is None else _emotion_text(query.emotion, query.emotion_probs)
    if heading is None:
        print(f"{display_path(query.path)}  {clock(query.duration)}  video emotion: {mood}")
    else:
        print(f"{heading}  emotion: {mood}")
    if not suggestions:
        print("no track matches the filters")
        return
    print(f"{'#':>3}  {'score':>6}  {'best section':<13}  {'emotion':<13}  {'length':>7}  {'bpm':>5}  track")
    for s in suggestions:
        name = " - ".join(x for x in (s.artist, s.title) if x) or s.path.name
        bpm = "-" if s.bpm is None else f"{s.bpm:.0f}"
        short = "  (shorter than the cue)" if s.covers is False else ""
        print(
            f"{s.rank:>3}  {s.score:6.3f}  {section(s.best_start, s.best_end):<13}  "
            f"{_emotion_text(s.emotion, s.emotion_probs):<13}  {clock(s.duration):>7}  {bpm:>5}  {name}  "
            f"({display_path(s.path)}){short}"
        )


def _cmd_export(args: argparse.Namespace) -> int:
    """A saved set of choices (the GUI's choices file) -> an editor's timeline and/or a cue sheet."""
    from .engine import service
    from .engine.choices import read_choices_file
    from .engine.paths import display_path

    if args.timeline is None and args.cue_sheet is None:
        raise CliError("nothing to export: give --timeline OUT.{otio,xml,fcpxml,edl} and/or --cue-sheet OUT.csv")
    choices = read_choices_file(args.choices)
    if not choices.choices:
        raise CliError(f"{display_path(args.choices)} holds no choices (assign music to a cue first)")
    written = []
    if args.timeline is not None:
        written.append(service.export_timeline(args.timeline, choices, fade_seconds=args.fade,
                                               relative_paths=args.relative_paths))
    if args.cue_sheet is not None:
        written.append(service.export_cue_sheet(args.cue_sheet, choices))
    for path in written:
        print(f"wrote {display_path(path)} ({len(choices.choices)} cues)")
    return EXIT_OK


def _cmd_library_status(args: argparse.Namespace) -> int:
    from .engine.paths import display_path
    from .engine.service import LibraryReader

    with LibraryReader(_backends(args), create=False) as reader:
        snapshot = reader.snapshot()
    stats = snapshot.stats
    if args.json:
        _print_json(
            {
                "format": STATUS_FORMAT,
                "version": 1,
                "random_networks": random_networks_requested(),
                "database": display_path(snapshot.database),
                "folders": [display_path(f) for f in snapshot.folders],
                **dataclasses.asdict(stats),
                "failures": [{"path": display_path(t.path), "error": t.error} for t in snapshot.failures],
            }
        )
        return EXIT_OK
    print(f"library: {display_path(snapshot.database)} ({stats.db_bytes / 1e6:.1f} MB)")
    print(f"folders: {', '.join(display_path(f) for f in snapshot.folders) or '(none)'}")
    print(f"tracks: {stats.tracks} ({stats.indexed} indexed, {stats.failed} failed), {stats.windows} windows")
    for track in snapshot.failures:
        print(f"  failed: {display_path(track.path)}: {track.error}")
    return EXIT_OK


def _cmd_library_remove(args: argparse.Namespace) -> int:
    from .engine.service import LibraryReader

    with LibraryReader(_backends(args)) as reader:
        snapshot = reader.remove_folder(args.dir)
    print(f"removed {args.dir} and its {snapshot.removed} tracks from the library")
    return EXIT_OK


def _cmd_models_status(args: argparse.Namespace) -> int:
    from .engine import weights
    from .engine.loading import load_retrieval_model

    for key in weights.REGISTRY:
        status = weights.weight_status(key)
        print(f"{key}: {status.state.value}: {status.message}")
    try:
        loaded = load_retrieval_model(args.model)
    except EngineError as exc:
        print(f"retrieval model: missing: {error_line(exc)}")
    else:
        kind = "multi-task" if loaded.multitask else "single-task (no emotion predictions)"
        print(f"retrieval model: present: {loaded.path} ({kind}, id {loaded.model_id[:12]})")
    if random_networks_requested():
        print(f"demo/test mode: {RANDOM_NETWORKS_ENV}=1 (missing backbones are built with random weights)")
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
COMMANDS = ("index", "suggest", "export", "library", "models")
USAGE = (f"{PROG} [--debug] [--library DB] [VIDEO]   (the window; Qt options such as -style fusion go to it)\n"
         f"       {PROG} [--debug] [--library DB] COMMAND ...")
# Qt's own command-line options (QApplication, QGuiApplication, xcb): those that take a value, and flags.
QT_VALUE_OPTIONS = frozenset({
    "-style", "-stylesheet", "-platform", "-platformpluginpath", "-platformtheme", "-plugin", "-qmljsdebugger",
    "-session", "-display", "-geometry", "-title", "-name", "-qwindowgeometry", "-qwindowicon", "-qwindowtitle",
    "-fontengine", "-visual",
})
QT_FLAGS = frozenset({"-reverse", "-widgetcount", "-nograb", "-dograb", "-sync", "-testability"})


def _global_options(parser: argparse.ArgumentParser, *, leaf: bool = False) -> None:
    """``--debug`` and ``--library``, accepted before the command and (``leaf``) after it."""
    defaults = {"default": argparse.SUPPRESS} if leaf else {}
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors", **defaults)
    parser.add_argument("--library", type=Path, help="library database (default: EMOMV_LIBRARY_DB or the user "
                        "data folder)", **defaults)


def _device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the networks run (auto: CUDA when available)")
    parser.add_argument("--precision", choices=("auto", "exact", "fast"), default="auto",
                        help="the networks' arithmetic: exact = fp32; fast = bf16 on CPUs with native bf16, fp16 on "
                             "CUDA, fp32 elsewhere (auto: fast for music, exact for video; see the README's Speed)")


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
    parser = argparse.ArgumentParser(prog=PROG, usage=USAGE, description="Find music for a video by emotion "
                                     "(EmoMV). Without a command (or with a video path) the window opens.")
    _global_options(parser)
    commands = _Commands(parser, "command")

    index = commands.add_parser("index", help="add folders to the library and index their audio files")
    index.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="music folders (default: all known)")
    _device_option(index)
    index.set_defaults(handler=_cmd_index)

    suggest = commands.add_parser("suggest", help="rank the library's tracks for a video, a temp track, stills")
    suggest.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                         help="a video; an audio file (a temp track); images or a folder of them (a mood board)")
    suggest.add_argument("--top", type=int, default=10, help="how many tracks (default 10)")
    suggest.add_argument("--json", action="store_true", help="machine-readable output (see docs/engine-library.md)")
    suggest.add_argument("--emotion", action="append", metavar="E", help=f"only tracks with this predicted emotion "
                         f"({', '.join(EMOTION_LABELS)}); repeatable")
    suggest.add_argument("--min-duration", metavar=f"S|{VIDEO_LENGTH}", help="only tracks at least this long "
                         f"(seconds, or '{VIDEO_LENGTH}' for the video's length)")
    suggest.add_argument("--text", help="only tracks whose title, artist, album or path contains this")
    suggest.add_argument("--bpm", metavar="LO-HI", help="only tracks with a tempo in this range, e.g. 90-130")
    suggest.add_argument("--scenes", action="store_true", help="cut the video into scenes and suggest music for "
                         "each (sections as long as the scene, on the beat), plus the whole video")
    suggest.add_argument("--covering", action="store_true", help="with --scenes: only tracks at least as long as "
                         "each cue")
    suggest.add_argument("--min-scene", type=float, metavar="S", help="with --scenes: the shortest scene in "
                         "seconds (default: the engine's, 4)")
    suggest.add_argument("--merge-threshold", type=float, metavar="C", help="with --scenes: the cosine between "
                         "neighbouring shots' embeddings at which they join one scene (default 0.85; above 1: every "
                         "shot its own scene)")
    suggest.add_argument("--clips", type=int, metavar="N", help="video clips analysed per 30 s window (more: slower, "
                         "steadier; default: the engine's)")
    suggest.add_argument("--sound-weight", type=float, metavar="W", help="temp track: how much how it sounds "
                         "(VGGish) counts against how it feels (the model), 0-1 (default 0.5)")
    suggest.add_argument("--like", type=int, action="append", metavar="ID", help="more like this track (its "
                         "track_id in the JSON); repeatable")
    suggest.add_argument("--dislike", type=int, action="append", metavar="ID", help="less like this track; "
                         "repeatable")
    _device_option(suggest)
    _model_option(suggest)
    suggest.set_defaults(handler=_cmd_suggest)

    export = commands.add_parser("export", help="write a saved set of choices as an editor's timeline and a cue sheet")
    export.add_argument("choices", type=Path, metavar="CHOICES.json", help="a choices file saved by the window")
    export.add_argument("--timeline", type=Path, metavar="OUT", help="the timeline: .otio, .xml (FCP 7: Premiere, "
                        "Resolve), .fcpxml (Final Cut Pro), .edl (CMX 3600: Avid, every editor)")
    export.add_argument("--cue-sheet", type=Path, metavar="OUT.csv", help="the cue sheet for music licensing")
    export.add_argument("--fade", type=float, default=0.0, metavar="S", help="fade each music clip in and out "
                        "(seconds; .otio and .xml only)")
    export.add_argument("--relative-paths", action="store_true", help="media paths relative to the timeline's "
                        "folder (default: absolute)")
    export.set_defaults(handler=_cmd_export)

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


def _split_qt_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(ours, Qt's)``: Qt's own single-dash options (``-style fusion``, ``-platform=offscreen``) are the
    window's, never argparse's."""
    ours, qt = [], []
    args = iter(argv)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in QT_VALUE_OPTIONS:
            qt.append(arg)
            value = None if "=" in arg else next(args, None)
            if value is not None:
                qt.append(value)
        elif arg in QT_FLAGS:
            qt.append(arg)
        else:
            ours.append(arg)
    return ours, qt


def _run_gui(video: str | None, qt_options: list[str], library: Path | None) -> int:
    from .app import run_gui  # Qt is imported only here

    return run_gui(video=video, argv=[PROG, *qt_options], library=library)


def _never_crash_on_text() -> None:
    """A name the terminal cannot encode (an ASCII locale, a pipe) prints as ``?`` instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def _guarded(run: Callable[[], int], debug: bool) -> int:
    """Run a command: known errors -> one line on stderr and exit 1 (traceback first with ``--debug``);
    unexpected ones (bugs) -> their traceback in the log file, one line saying where, exit 1."""
    from .engine import logs
    from .engine.loading import silence_library_warnings

    _never_crash_on_text()
    silence_library_warnings()
    try:
        return run()
    except EngineError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # noqa: BLE001 - a bug: logged with its traceback, reported in one line
        log = logs.log_unexpected(f"{PROG} failed", exc)
        if debug:
            traceback.print_exc()
        print(f"{PROG}: unexpected error ({type(exc).__name__}: {error_line(exc)}); please report it, the "
              f"traceback is in {log}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emomv-desktop`` and ``python -m emomv_desktop``; returns the exit code."""
    argv, qt_options = _split_qt_options(list(sys.argv[1:] if argv is None else argv))
    gui = _gui_request(argv)
    if gui is not None:
        options, video = gui
        return _guarded(lambda: _run_gui(video, qt_options, options.library), options.debug)
    parser = build_parser()
    if qt_options:
        parser.error(f"{' '.join(qt_options)}: Qt options apply to the window only, not to a command")
    args = parser.parse_args(argv)
    return _guarded(lambda: args.handler(args), args.debug)
