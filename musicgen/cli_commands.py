"""The CLI's subcommands, each a name, its arguments and a function.

Kept apart from ``__main__`` so that each later feature adds one entry here.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import cli_evaluate
from .audio import MIME_TYPES, RenderOptions, encode, render
from .describe import describe
from .errors import CliError, MusicgenError
from .listening import report as listening_report
from .midi import MidiInputError, load_midi
from .score import ScoreError

# What a user can cause, and so gets a one-line ``error:`` instead of a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (CliError, MusicgenError, MidiInputError, ScoreError, OSError)


@dataclass(frozen=True)
class Command:
    """One subcommand of ``python -m musicgen``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a MIDI file (.mid)")


def _info(args: argparse.Namespace) -> int:
    score = load_midi(args.file)
    print(f"{'file':9} {args.file}")
    for label, value in describe(score):
        print(f"{label + (':' if label else ''):9} {value}")
    return 0


def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="a MIDI file (.mid)")
    p.add_argument("output", type=Path, help="the audio file to write: .wav, .flac or .ogg")
    p.add_argument("--soundfont", type=Path,
                   help="a .sf2 SoundFont (default: MUSICGEN_SOUNDFONT or the system's)")
    p.add_argument("--program", type=int, help="one General MIDI program 0-127 for every pitched track")
    p.add_argument("--bpm", type=float, help="play at this tempo instead of the file's")
    p.add_argument("--dry", action="store_true", help="no reverb or chorus")


def _render(args: argparse.Namespace) -> int:
    fmt = args.output.suffix.lower().lstrip(".")
    if fmt not in MIME_TYPES:
        raise CliError(f"cannot write {args.output.name}: use a .wav, .flac or .ogg file name")
    if args.program is not None and not 0 <= args.program <= 127:
        raise CliError("--program must be a General MIDI program between 0 and 127")
    if args.bpm is not None and not 10 <= args.bpm <= 400:
        raise CliError("--bpm must lie between 10 and 400")
    score = load_midi(args.input)
    options = RenderOptions(program=args.program, bpm=args.bpm, effects=not args.dry)
    rendered = render(score, options, soundfont=args.soundfont)
    args.output.write_bytes(encode(rendered, fmt))
    if rendered.notice:
        print(f"note: {rendered.notice}", file=sys.stderr)
    print(f"wrote {args.output} ({rendered.seconds:.1f} s, {rendered.renderer})")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    from .bench import SUITES

    p.add_argument("--suite", action="append",
                   help=f"suites to run, comma-separated or repeated: {', '.join(SUITES)} (default: all)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per case, after one warm-up (default 5)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--device", help="cpu, cuda or mps for the models (default: the best there is)")
    p.add_argument("--model", action="append", help="a model to measure, name or folder (repeatable; "
                                                    "default: every shipped model)")
    p.add_argument("--compile", action="store_true", help="step suite: also time the sampling step under "
                                                          "torch.compile and TorchScript (compiling takes a minute)")


def _bench(args: argparse.Namespace) -> int:
    from .bench import SUITES, BenchSettings, run
    from .sampling import choose_device

    if args.repeat < 1:
        raise CliError("--repeat must be at least 1")
    suites = [s.strip() for item in args.suite or [] for s in item.split(",") if s.strip()] or list(SUITES)
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise CliError(f"there is no suite {unknown[0]!r}: use {', '.join(SUITES)}")
    choose_device(args.device)  # a missing device is one clear error, before anything runs
    settings = BenchSettings(repeat=args.repeat, device=args.device, models=tuple(args.model or ()),
                             compile=args.compile)
    run(suites, settings, json_path=args.json)
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    # No import of the model registry here: it loads torch, and `info` should start fast.
    p.add_argument("--model", required=True, help="the model family: rnn or gan")
    p.add_argument("--corpus", required=True, help="bach, folk, or a folder or zip of MIDI files")
    p.add_argument("--size", default="small", help="debug, small or base (default small)")
    p.add_argument("--limit", type=int, help="a built-in corpus: only its first N source files")
    p.add_argument("--description", help="one line for the model card (default: what it was trained on)")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps (default 2000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 0.002)")
    p.add_argument("--eval-every", type=int, default=200, help="steps between validations (default 200)")
    p.add_argument("--patience", type=int, default=0, help="stop after this many validations without progress")
    p.add_argument("--steps-per-beat", type=int, help="the model's grid (default: the family's)")
    p.add_argument("--name", help="model name (default FAMILY-CORPUS-SIZE)")
    p.add_argument("--out", type=Path, help="model folder (default: the user's models folder / NAME)")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best there is)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming a stopped run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ema", type=float, default=0.0,
                   help="validate and save a moving average of the weights with this decay (e.g. 0.999; default off)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW's decoupled weight decay (default 0)")
    p.add_argument("--distill-from", help="an RNN (name or folder) trained on the same corpus, whose predictions "
                                          "the new RNN learns as well as the music (knowledge distillation)")
    p.add_argument("--init-from", help="a trained model (name or folder) to fine-tune on the corpus: it keeps its "
                                       "size and grid (--size and --steps-per-beat are not used), and the model "
                                       "saved is never worse on the corpus's validation pieces than it was")


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .jobs import TrainingRequestError, TrainRequest, run_training

    request = TrainRequest(
        family=args.model, corpus=args.corpus, size=args.size, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, eval_every=args.eval_every, patience=args.patience, steps_per_beat=args.steps_per_beat,
        limit=args.limit, name=args.name, out=args.out, description=args.description, device=args.device,
        fresh=args.fresh, seed=args.seed, ema=args.ema, weight_decay=args.weight_decay, distill_from=args.distill_from,
        init_from=args.init_from, command="python -m musicgen " + shlex.join(sys.argv[1:]))

    def skipped(corpus) -> None:
        if corpus.skipped:
            print(f"skipped {len(corpus.skipped)} files:", file=sys.stderr)
            for name, reason in corpus.skipped[:10]:
                print(f"  {name}: {reason}", file=sys.stderr)

    with tqdm(desc="reading corpus", unit="file", leave=False, disable=None) as reading, \
            tqdm(total=args.steps, desc=f"training {request.model_name}", unit="step", disable=None) as bar:
        def tick(done: int, total: int) -> None:
            reading.total, reading.n = total, done
            reading.refresh()

        def show(p) -> None:
            bar.n = p.step
            bar.set_postfix(loss=f"{p.train_loss:.3f}", val=f"{p.val_loss:.3f}" if p.val_loss else "-")
            bar.refresh()

        try:
            result = run_training(request, progress=show, corpus_progress=tick, on_corpus=skipped)
        except TrainingRequestError as exc:
            raise CliError(str(exc)) from exc
    print(f"{result.status} after {result.steps} steps; best validation loss {result.best_val:.4f}; "
          f"saved in {request.out_dir}")
    return 0


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a model name (see `models`) or folder")
    p.add_argument("--seed", type=Path, help="a MIDI file to continue (default: start from silence)")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=0.5)
    p.add_argument("--threshold", type=float, help="GAN: density 0.05-0.95, lower: more notes (default: the model's)")
    p.add_argument("--variations", type=int, default=4)
    p.add_argument("--allow-copies", action="store_true",
                   help="keep takes that copy 2+ bars of the training music (by default they are drawn again, "
                        "as in the app, when the model's copy index is at hand)")
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument("--key-lock", help='"auto" (the seed\'s key) or a key such as "D minor"')
    p.add_argument("--max-polyphony", type=int)
    p.add_argument("--out", type=Path, default=Path("generated"), help="folder to write into (default ./generated)")
    p.add_argument("--wav", action="store_true", help="also write a WAV of each variation")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best there is)")
    p.add_argument("--lock-bars", help="rewrite the seed instead of continuing it, keeping these bars "
                                       "(counted from 1, e.g. 1-4 or 1-2,7); --bars is then not used")
    p.add_argument("--lock-tracks", help="rewrite the seed, keeping these tracks (numbered as `info` lists them, "
                                         "e.g. 0 or 0,3)")


def _lock(args: argparse.Namespace):
    """The Lock of --lock-bars / --lock-tracks, or None."""
    if not (args.lock_bars or args.lock_tracks):
        return None
    from .lock import Lock, parse_numbers

    if not args.seed:
        raise CliError("--lock-bars and --lock-tracks keep parts of a take: give it with --seed")
    return Lock(bars=parse_numbers(args.lock_bars, "bars") if args.lock_bars else (),
                tracks=parse_numbers(args.lock_tracks, "tracks") if args.lock_tracks else ())


def _write_takes(takes: list, out: Path, stem: str, wav: bool) -> None:
    """One MIDI file (and WAV) per take: ``OUT/STEM-1.mid``..."""
    from .audio import render_many
    from .midi import score_to_bytes

    out.mkdir(parents=True, exist_ok=True)
    audio = render_many(takes) if wav else [None] * len(takes)
    for i, (take, rendered) in enumerate(zip(takes, audio, strict=True), start=1):
        path = out / f"{stem}-{i}.mid"
        path.write_bytes(score_to_bytes(take))
        print(f"wrote {path}")
        if rendered is not None:
            path.with_suffix(".wav").write_bytes(encode(rendered, "wav"))
            print(f"wrote {path.with_suffix('.wav')}")


def _generate(args: argparse.Namespace) -> int:
    from .generate import generate, load_model
    from .originality import copy_guard_ready
    from .sampling import SampleParams

    lock = _lock(args)
    seed = load_midi(args.seed) if args.seed else None
    model = load_model(args.model, device=args.device)
    guard = not args.allow_copies and copy_guard_ready(model)  # as the app: when the index is shipped or built
    params = SampleParams(bars=args.bars, temperature=args.temperature, top_p=args.top_p, noise=args.noise,
                          n_variations=args.variations, random_seed=args.random_seed, key_lock=args.key_lock,
                          max_polyphony=args.max_polyphony, threshold=args.threshold, avoid_copies=guard)
    takes = generate(model, seed, params, lock=lock)
    stem = args.seed.stem if args.seed else model.name
    _write_takes(takes, args.out, f"{stem}-{model.name}" + ("-rewrite" if lock else ""), args.wav)
    return 0


def _harmonize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("melody", type=Path, help="a MIDI file with the tune: one voice (or its highest track is used)")
    p.add_argument("--model", default="rnn-jsb", help="a model name (see `models`) or folder (default rnn-jsb)")
    p.add_argument("--track", type=int, help="the track with the tune, numbered as `info` lists them")
    p.add_argument("--variations", type=int, default=4)
    p.add_argument("--temperature", type=float, default=0.5,
                   help="default 0.5: nearest Bach's own voices in `evaluate --benchmark harmonize`")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=0.5,
                   help="GAN models: how far the harmonizations stray from the most typical one (0-2)")
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument("--key-lock", help='"auto" (the melody\'s key) or a key such as "D minor"')
    p.add_argument("--out", type=Path, default=Path("harmonized"), help="folder to write into (default ./harmonized)")
    p.add_argument("--wav", action="store_true", help="also write a WAV of each variation")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best there is)")


def _harmonize(args: argparse.Namespace) -> int:
    from .generate import load_model
    from .harmonize import extract_melody, harmonize, melody_key
    from .sampling import SampleParams

    params = SampleParams(temperature=args.temperature, top_p=args.top_p, noise=args.noise,
                          n_variations=args.variations, random_seed=args.random_seed, key_lock=args.key_lock)
    melody = extract_melody(load_midi(args.melody), args.track)
    model = load_model(args.model, device=args.device)
    takes = harmonize(model, melody, params)
    print(f"melody: {melody.tracks[0].name or 'untitled'}, {len(melody.notes)} notes, {melody.n_bars} bars, "
          f"in {melody_key(melody).name}")
    _write_takes(takes, args.out, f"{args.melody.stem}-{model.name}-harmony", args.wav)
    return 0


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the cards as JSON")


def _models(args: argparse.Namespace) -> int:
    import json

    from .models.registry import list_models

    entries = list_models()
    if args.json:
        print(json.dumps([{"name": e.name, "shipped": e.shipped, "path": str(e.path), **e.card} for e in entries],
                         indent=2))
        return 0
    if not entries:
        print("no models yet: train one with python -m musicgen train --model rnn --corpus bach")
    for e in entries:
        card = e.card
        where = "shipped" if e.shipped else "yours"
        print(f"{e.name} ({where}): {card.get('description', card.get('family', '?'))}; "
              f"{card.get('steps', '?')} steps, validation loss {card.get('validation_loss', '?')}, "
              f"{card.get('size_mb', '?')} MB, {card.get('date', '')}")
    return 0


COMMANDS: list[Command] = [
    Command("info", "Describe a MIDI file: tracks, notes, tempo, meter, key.", _info_args, _info),
    Command("render", "Play a MIDI file into an audio file with FluidSynth.", _render_args, _render),
    Command("bench", "Time the engine against the baselines; print a table, write JSON.", _bench_args, _bench),
    Command("train", "Train or fine-tune a model on a corpus.", _train_args, _train),
    Command("generate", "Continue a seed MIDI file: write one MIDI (and WAV) per variation.",
            _generate_args, _generate),
    Command("harmonize", "Write alto, tenor and bass under a melody: one MIDI (and WAV) per variation.",
            _harmonize_args, _harmonize),
    Command("models", "List the available models with their cards.", _models_args, _models),
    Command("evaluate", "Evaluate a model against held-out music (report with metrics, a two-sample test and "
            "copy checks), or on a benchmark (JSB Chorales NLL per frame).",
            cli_evaluate.add_arguments, cli_evaluate.run),
    Command("listening-report", "How each model fares in the listening test, and its takes' mean rating; "
            "export the answers as CSV.", listening_report.add_arguments, listening_report.run),
]
