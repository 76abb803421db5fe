"""``emomv-train``: reproduce the EmoMV benchmarks, evaluate saved retrieval models, train the shipped model.

Known errors (missing files, bad files, a model that does not fit) print one line on stderr and exit 1;
``--debug`` shows the traceback. Progress goes to stderr, results to files (or stdout for ``evaluate``).

Subcommands are entries of :data:`COMMANDS` (name -> how to add its arguments, how to run it), so a new one
is one more entry.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable

import torch

from emomv_desktop.engine import paths
from emomv_desktop.engine.errors import EngineError
from emomv_desktop.engine.jobs import Progress

from . import va_sweep
from .data import DATASETS, RETRIEVAL, Split, dataset_spec
from .evaluate import evaluate_model, format_evaluation
from .experiments import Protocol
from .loop import TrainConfig
from .fit import fit_and_save
from .recipe import HELD_OUT, Recipe, evaluate_recipe, format_recipe_result
from .reproduce import REPORT_FILE, ReproduceConfig, main_command, reproduce

PROG = "emomv-train"
DEFAULT_THREADS = 1
"""The models are tiny (a 256 x 2304 x 64 matmul is the largest op): one thread per process is as fast as two on
an idle machine and much faster when other processes share the cores (OpenMP threads then wait on each other;
``benchmarks/bench_train.py`` measures it, docs/training.md has the figures). Use ``--jobs`` to use more cores."""


def _print_progress(progress: Progress) -> None:
    counter = f"[{int(progress.done)}/{int(progress.total)}] " if progress.total else ""
    print(f"{counter}{progress.message}", file=sys.stderr, flush=True)


def _dataset_list(text: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(dataset_spec(part).key for part in text.split(",") if part.strip()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


# --------------------------------------------------------------------------------------- reproduce


def _add_reproduce(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="the EmoMV collection (folder holding DS1_EmoMV_A ...); default: EMOMV_DATASET_DIR "
                             "or ../shared/emomv beside the project")
    parser.add_argument("--datasets", type=_dataset_list, default=tuple(DATASETS), help="comma-separated: A,B,C")
    parser.add_argument("--seeds", type=_positive_int, default=10, help="seeds 1..N (default 10)")
    parser.add_argument("--protocol", choices=[p.value for p in Protocol], default=Protocol.PAPER.value,
                        help="paper: early stop on val as the authors did; clean: early stop on a grouped "
                             "hold-out of train")
    parser.add_argument("--holdout", type=_fraction, default=0.2, help="clean protocol's hold-out share of train")
    parser.add_argument("--max-epochs", type=_positive_int, default=TrainConfig.max_epochs)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default ./reproduce-<protocol>)")
    parser.add_argument("--jobs", type=_positive_int, default=1,
                        help="processes training runs in parallel (default 1; results do not depend on it)")
    parser.add_argument("--save-models", action="store_true",
                        help="also save every trained retrieval model (+ card) under OUT/models for `evaluate`")


def _run_reproduce(args: argparse.Namespace) -> int:
    config = ReproduceConfig(
        datasets=args.datasets, seeds=args.seeds, protocol=Protocol(args.protocol), holdout=args.holdout,
        train=dataclasses.replace(TrainConfig(), max_epochs=args.max_epochs), save_models=args.save_models,
        jobs=args.jobs,
    )
    out = args.out or Path(f"reproduce-{config.protocol.value}")
    result = reproduce(args.data or paths.dataset_dir(), out, config, command=main_command(args.argv),
                       progress=_print_progress)
    for key, reason in result.skipped.items():
        print(f"skipped {dataset_spec(key).name}: {reason}", file=sys.stderr)
    print(f"wrote {out / REPORT_FILE} and {len(result.files) - 1} more files in {result.seconds:.0f} s",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------- evaluate


def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="a model saved by emomv-train (NAME.pt + card)")
    parser.add_argument("--data", type=Path, default=None, help="the EmoMV collection (default as for reproduce)")
    parser.add_argument("--dataset", type=lambda t: _dataset_list(t)[0], required=True, help="A, B or C")
    parser.add_argument("--split", choices=[s.value for s in Split] + [RETRIEVAL], default=RETRIEVAL)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")


def _run_evaluate(args: argparse.Namespace) -> int:
    result = evaluate_model(args.model, args.data or paths.dataset_dir(), args.dataset, args.split)
    print(json.dumps(result, indent=2) if args.json else format_evaluation(result))
    return 0


# ------------------------------------------------------------------------------------- recipe / fit


def _add_recipe_options(parser: argparse.ArgumentParser, seeds: int = 5) -> None:
    parser.add_argument("--data", type=Path, default=None, help="the EmoMV collection (default as for reproduce)")
    parser.add_argument("--seeds", type=_positive_int, default=seeds, help=f"clean-protocol seeds 1..N (default {seeds})")
    parser.add_argument("--held-out", type=_dataset_list, default=HELD_OUT,
                        help="datasets to judge the recipe on, each held out entirely in turn (default C,B)")
    parser.add_argument("--music-only-weight", type=float, default=Recipe.music_only_weight,
                        help="weight of the music-only rows' emotion loss (0: do not use them)")
    parser.add_argument("--holdout", type=_fraction, default=Recipe.holdout,
                        help="share of EmoMV-C's rows held out for early stopping and the recipe's choices")
    parser.add_argument("--max-epochs", type=_positive_int, default=TrainConfig.max_epochs)
    parser.add_argument("--video-std-floor", type=float, default=Recipe.video_std_floor,
                        help="floor of the video standardiser's spread, a fraction of its median (0: none)")


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=_positive_int, default=1,
                        help="processes training seeds in parallel (the figures do not depend on it)")


def _recipe(args: argparse.Namespace) -> Recipe:
    if args.music_only_weight < 0:
        raise EngineError(f"--music-only-weight must be >= 0, not {args.music_only_weight}")
    if args.video_std_floor < 0:
        raise EngineError(f"--video-std-floor must be >= 0, not {args.video_std_floor}")
    return Recipe(train=dataclasses.replace(TrainConfig(), max_epochs=args.max_epochs),
                  music_only_weight=args.music_only_weight, holdout=args.holdout,
                  video_std_floor=args.video_std_floor)


def _add_recipe(parser: argparse.ArgumentParser) -> None:
    _add_recipe_options(parser)
    _add_jobs(parser)
    parser.add_argument("--json", action="store_true", help="print every figure of every seed as JSON on stdout")


def _run_recipe(args: argparse.Namespace) -> int:
    result = evaluate_recipe(args.data or paths.dataset_dir(), _recipe(args), list(range(1, args.seeds + 1)),
                             args.held_out, jobs=args.jobs, progress=_print_progress)
    print(json.dumps(result, indent=1) if args.json else format_recipe_result(result))
    return 0


def _add_fit(parser: argparse.ArgumentParser) -> None:
    _add_recipe_options(parser)
    _add_jobs(parser)
    parser.add_argument("--out", type=Path, required=True, help="the model file to write (NAME.pt + NAME.card.json)")
    parser.add_argument("--seed", type=_positive_int, default=1, help="seed of the final model (default 1)")


def _run_fit(args: argparse.Namespace) -> int:
    card = fit_and_save(args.data or paths.dataset_dir(), args.out, _recipe(args), seeds=args.seeds, seed=args.seed,
                        held_out=args.held_out, jobs=args.jobs, progress=_print_progress)
    for name, line in card["summary"].items():
        print(f"{name}: {line}", file=sys.stderr)
    print(f"wrote {args.out} and its card (sha256 {card['weights_sha256'][:12]}…)", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------ va-sweep


def _add_va_sweep(parser: argparse.ArgumentParser) -> None:
    _add_recipe_options(parser, seeds=va_sweep.DEFAULT_SEEDS)
    parser.add_argument("--model", type=Path, default=None,
                        help="a saved model to sweep on the same sets, not clean (default: the app's model)")
    parser.add_argument("--json", action="store_true", help="print every figure as JSON on stdout")


def _run_va_sweep(args: argparse.Namespace) -> int:
    model = args.model or paths.model_path()
    if args.model is None and not model.is_file():
        model = None  # no shipped model in this installation: the clean sweep alone
    result = va_sweep.va_sweep(args.data or paths.dataset_dir(), list(range(1, args.seeds + 1)), args.held_out,
                               recipe=_recipe(args), model_path=model, progress=_print_progress)
    print(json.dumps(result, indent=1) if args.json else va_sweep.format_va_sweep(result))
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "reproduce": ("run every benchmark table the data allows, over seeds", _add_reproduce, _run_reproduce),
    "evaluate": ("retrieval figures of a saved model on a split or retrieval set", _add_evaluate, _run_evaluate),
    "recipe": ("the shipped model's recipe under the clean protocol (each held-out dataset never seen)",
               _add_recipe, _run_recipe),
    "fit": ("judge the recipe, then train the shipped model on every labelled example and write it + its card",
            _add_fit, _run_fit),
    "va-sweep": ("what alpha of the valence-arousal blend does to mAP and class-balanced mAP (clean protocol)",
                 _add_va_sweep, _run_va_sweep),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Reproduce the EmoMV benchmarks; evaluate models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of known errors")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help=f"torch CPU threads per process (default {DEFAULT_THREADS}: the models are tiny)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or DEFAULT_THREADS)
    try:
        return COMMANDS[args.command][2](args)
    except EngineError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:  # an in-process caller (a test, a notebook) keeps its own setting
        torch.set_num_threads(previous_threads)
