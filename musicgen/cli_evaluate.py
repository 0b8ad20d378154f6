"""``python -m musicgen evaluate``: a model's report against held-out music, or a benchmark
(the JSB Chorales likelihood, or harmonizing the test chorales' sopranos)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .errors import CliError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark", choices=["jsb", "harmonize"],
                   help="jsb: negative log-likelihood per frame on the JSB Chorales test split; harmonize: the "
                        "test chorales' sopranos harmonized, against Bach's own voices")
    p.add_argument("--limit", type=int, help="--benchmark harmonize: only the first N test chorales")
    p.add_argument("--variations", type=int, default=2,
                   help="--benchmark harmonize: takes per chorale when sampling (default 2)")
    p.add_argument("--model", action="append",
                   help="a model to evaluate (repeatable); with --benchmark jsb, one trained on --corpus jsb "
                        "(default: rnn-jsb)")
    p.add_argument("--data", type=Path, help="the benchmark's JSON file (default: the copy in assets/data)")
    p.add_argument("--json", type=Path, help="also write the table (or the report) as JSON here")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best there is)")
    p.add_argument("--samples", type=int, default=160, help="continuations to generate (default 160)")
    p.add_argument("--seeds", type=int, default=80, help="held-out pieces used as seeds, at most (default 80)")
    p.add_argument("--bars", type=int, default=8, help="bars to continue each seed by (default 8)")
    p.add_argument("--seed-bars", type=int, default=2, help="bars of each held-out piece given as seed (default 2)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument("--no-copy-guard", action="store_true",
                   help="keep every first draw, even one that copies the training music (the app draws it again)")
    p.add_argument("--split", choices=["test", "valid"], default="test",
                   help="the held-out pieces to seed from: test (the report) or valid (to choose settings by)")
    p.add_argument("--corpus", help="the corpus the model learned from, if its card does not say: bach, folk, jsb "
                                    "or a folder or zip of MIDI files")
    p.add_argument("--report", type=Path,
                   help="folder for report.json, report.md and plots (default: the data folder's evaluations/NAME)")


def run(args: argparse.Namespace) -> int:
    if not args.benchmark:
        return _evaluate_models(args)
    from .benchmark import JSB_PATH, format_jsb_table, jsb_table
    from .generate import load_model

    data = args.data or JSB_PATH
    if not Path(data).is_file():
        raise CliError(f"there is no benchmark file at {data}")
    if args.benchmark == "harmonize":
        return _evaluate_harmonize(args, Path(data))
    models = [load_model(name, device=args.device) for name in (args.model or ["rnn-jsb"])]
    if any(m.family.name != "rnn" or m.config.n_pitches != 88 for m in models):
        raise CliError("the JSB benchmark needs an RNN trained with --corpus jsb")
    rows = jsb_table(models, data)
    print("JSB Chorales, negative log-likelihood per frame in nats (lower is better)")
    print(format_jsb_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _evaluate_models(args: argparse.Namespace) -> int:
    """``evaluate --model NAME``: generated against held-out music, written as a report."""
    from tqdm import tqdm

    from .evalreport import bar_table, copy_table, feature_table, summary_lines, to_json, write_report
    from .evaluate import EvalSettings, evaluate_model
    from .generate import load_model
    from .sampling import SampleParams, SampleParamsError

    if not args.model:
        raise CliError("say which model to evaluate with --model NAME (or run --benchmark jsb)")
    if args.report and len(args.model) > 1:
        raise CliError("--report takes one model; leave it out to write each model's report to its own folder")
    try:
        SampleParams(bars=args.bars, temperature=args.temperature, top_p=args.top_p)  # the ranges of generation
    except SampleParamsError as exc:
        raise CliError(str(exc)) from exc
    settings = EvalSettings(samples=args.samples, max_seeds=args.seeds, bars=args.bars, seed_bars=args.seed_bars,
                            min_bars=min(4, args.bars), temperature=args.temperature, top_p=args.top_p,
                            random_seed=args.random_seed, avoid_copies=not args.no_copy_guard, split=args.split)
    reports = []
    for name in args.model:
        model = load_model(name, device=args.device)
        with tqdm(desc=f"generating with {model.name}", unit="piece", leave=False, disable=None) as bar:
            def tick(done: int, total: int) -> None:
                bar.total, bar.n = total, done
                bar.refresh()

            report = evaluate_model(model, settings, corpus=args.corpus, progress=tick)
        folder = write_report(report, args.report)
        print("\n".join(summary_lines(report)))
        print("\n".join(["", *feature_table(report), "", *bar_table(report), "", *copy_table(report), ""]))
        print(f"wrote {folder / 'report.md'} (with report.json and plots)")
        reports.append(report)
    if args.json:
        args.json.write_text(to_json(reports[0]) if len(reports) == 1 else
                             "[\n" + ",\n".join(to_json(r).rstrip() for r in reports) + "\n]\n")
        print(f"wrote {args.json}")
    return 0


def _evaluate_harmonize(args: argparse.Namespace, data: Path) -> int:
    from .generate import load_model
    from .harmony_eval import format_harmonize_table, harmonize_table, write_json

    if args.variations < 1 or (args.limit is not None and args.limit < 1):
        raise CliError("--variations and --limit must be at least 1")
    models = [load_model(name, device=args.device) for name in (args.model or ["rnn-jsb"])]
    rows = harmonize_table(models, data, variations=args.variations, limit=args.limit)
    print(f"JSB Chorales test split: each soprano harmonized, against Bach's alto, tenor and bass "
          f"({rows[0]['chorales']} of {rows[0]['of']} chorales; see musicgen/harmony_eval.py)")
    print(format_harmonize_table(rows))
    if args.json:
        write_json(rows, args.json)
        print(f"wrote {args.json}")
    return 0
