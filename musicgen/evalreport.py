"""An evaluation report (see :mod:`musicgen.evaluate`) as JSON, Markdown, plots and a console summary.

Reports go to ``<data folder>/evaluations/<model>/`` by default (the data folder is
``MUSICGEN_DATA_DIR``, else e.g. ``~/.local/share/musicgen``): ``report.json``,
``report.md`` and the PNG plots it shows. :func:`find_report` also looks for a
report shipped with a model, in its folder's ``evaluation/`` (written by
``python -m musicgen evaluate --model NAME --report assets/models/NAME/evaluation``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures are written to PNG files
import numpy as np
from matplotlib.figure import Figure

from . import metrics
from .copyguard import REDRAWS
from .noise_ladder import ladder_table
from .paths import SHIPPED_MODELS, data_dir

GENERATED_COLOUR, REAL_COLOUR = "#3d6b9e", "#8a8f98"


def default_report_dir(model_name: str) -> Path:
    """Where the report of a model is written unless told otherwise."""
    return data_dir() / "evaluations" / model_name


def find_report_dir(model_name: str) -> Path | None:
    """The folder of a model's latest report (the user's own, else the shipped one), or None."""
    for folder in (default_report_dir(model_name), SHIPPED_MODELS / model_name / "evaluation"):
        if (folder / "report.json").is_file():
            return folder
    return None


def find_report(model_name: str) -> dict[str, Any] | None:
    """The latest report of a model (see :func:`find_report_dir`) as a dict; None if there is none."""
    folder = find_report_dir(model_name)
    try:
        return json.loads((folder / "report.json").read_text()) if folder else None
    except (OSError, json.JSONDecodeError):
        return None


def _clean(value: Any) -> Any:
    """JSON has no NaN: undefined figures become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    """The report as strict JSON (undefined figures as null)."""
    return json.dumps(_clean(report), indent=1) + "\n"


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


# ----------------------------------------------------------------- text
def summary_lines(report: dict[str, Any]) -> list[str]:
    """The headline figures and the targets, for the console and the top of the Markdown."""
    t, p = report["targets"], report["pieces"]
    ts = report["two_sample"]
    gv, rr = ts["generated_vs_real"], ts["real_vs_real"]
    og, orl = report["originality"]["generated"], report["originality"]["real"]
    return [
        f"{report['model']} ({report['family']}, {report['corpus']}): {p['generated']} continuations of "
        f"{p['seeds']} held-out seeds ({report['settings']['seed_bars']} bars each, up to "
        f"{report['settings']['bars']} bars continued), {p['generated_bars']} generated bars",
        f"overlapping area: lowest {_f(t['overlap']['min'])} (target >= {t['overlap']['bound']}): "
        f"{_met(t['overlap']['met'])}" + (f"; below: {', '.join(t['overlap']['failing'])}"
                                          if t['overlap']['failing'] else ""),
        f"two-sample accuracy (generated vs real): {_pct(gv['accuracy'])} +- {_pct(gv['spread'])} over "
        f"{len(gv['folds'])} folds, {gv['n_per_class']} pieces each (target <= {_pct(t['two_sample']['bound'])}): "
        f"{_met(t['two_sample']['met'])}; real vs real (noise floor): {_pct(rr['accuracy'])} +- {_pct(rr['spread'])}",
        f"copies of {report['originality']['flag_bars']:g}+ bars from the training pieces: {_pct(og['flag_rate'])} of "
        f"continuations (target < {_pct(t['copy_rate']['bound'])}): {_met(t['copy_rate']['met'])}"
        + (f", with the copy guard (first draws: {_pct(report['originality']['first_draws']['flag_rate'])})"
           if "first_draws" in report["originality"] else "")
        + f"; real held-out continuations: {_pct(orl['flag_rate'])}",
        *([f"noise: the new bars' distance from the seed's grows with noise: {_met(t['noise']['met'])} "
           f"({_f(t['noise']['at_zero'], 3)} at noise 0, against {_f(t['noise']['real'], 3)} for the real "
           "continuation)"] if "noise" in t else []),
    ]


def feature_table(report: dict[str, Any]) -> list[str]:
    """Markdown: each feature's mean and spread, generated and real, and their overlap."""
    lines = ["| feature | generated mean (sd) | real mean (sd) | overlapping area |", "|---|---|---|---|"]
    for f in report["features"]:
        g, r = f["generated"], f["real"]
        lines.append(f"| {f['label']} | {_f(g['mean'])} ({_f(g['sd'])}) | {_f(r['mean'])} ({_f(r['sd'])}) | "
                     f"{_f(f['overlap'])} |")
    for key, label in (("note_length", "note-length histogram"), ("pitch_class_transitions",
                                                                    "pitch-class transitions (melody)")):
        overlap = _f(report["histograms"][key]["overlap"])
        lines.append(f"| {label} (Yang & Lerch intra/inter distances) | | | {overlap} |")
    return lines


def bar_table(report: dict[str, Any]) -> list[str]:
    """Markdown: MuseGAN's bar metrics, generated against real, with the relative difference."""
    b = report["bar_metrics"]
    lines = [f"| bar metric | generated ({int(b['generated']['bars'])} bars) | held-out real "
             f"({int(b['real']['bars'])} bars) | relative difference |", "|---|---|---|---|"]
    for key in (k for k in metrics.BAR_METRICS if k in b["generated"]):  # older reports lack the newer ones
        rel = b["relative_difference"][key]
        diff = f"{100 * rel:+.1f}%" if rel is not None and math.isfinite(rel) else (
            f"n/a (real is 0; generated {_f(b['generated'][key], 3)})")
        lines.append(f"| {key} | {_f(b['generated'][key], 3)} | {_f(b['real'][key], 3)} | {diff} |")
    return lines


def copy_table(report: dict[str, Any]) -> list[str]:
    """Markdown: the share of continuations with a copied passage of at least 2, 3, 4, 8 bars."""
    o = report["originality"]
    lengths = list(o["generated"]["rate_at_least"])
    lines = ["| continuations | " + " | ".join(f">= {b} bars" for b in lengths) + " |",
             "|---|" + "---|" * len(lengths)]
    rows = (("generated", "generated"), ("first_draws", "generated, first draws (before the copy guard)"),
            ("real", "real (held-out)"))
    for key, label in (row for row in rows if row[0] in o):
        lines.append(f"| {label} | " + " | ".join(_pct(o[key]["rate_at_least"][b]) for b in lengths) + " |")
    return lines


def giveaways(report: dict[str, Any], n: int = 4) -> list[tuple[str, float]]:
    """The features the classifier leans on most (standardized weights; > 0: points to real)."""
    ts = report["two_sample"]
    pairs = list(zip(ts["features"], ts["generated_vs_real"]["weights"], strict=True))
    return sorted(pairs, key=lambda p: -abs(p[1]))[:n]


def markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown (the plots are linked as PNG files beside it)."""
    s, og = report["settings"], report["originality"]["generated"]
    out = [f"# Evaluation of {report['model']}", "", f"{report['description']}".strip(), "",
           *[f"- {line}" for line in summary_lines(report)], "",
           f"Settings: temperature {s['temperature']}, top-p {s['top_p']}, random seed {s['random_seed']}, "
           f"seeds from the {s.get('split', 'test')} split, copy guard {'on' if s.get('avoid_copies') else 'off'}, "
           f"{s['folds']}-fold cross-validation repeated {s['repeats']} times; {report['date']}, "
           f"{report['device']}, {report['seconds']} s.", "",
           "## Features per continuation", "", *feature_table(report), "",
           "![features](features.png)", "", "![histograms](histograms.png)", "",
           "## Two-sample test", "",
           "L2 logistic regression on the standardized features above, k-fold cross-validated: each seed's "
           "generated continuation is paired with its real one (a pair stays in one fold), once per variation, "
           "folds pooled. 50% means it cannot tell them apart. The noise floor runs the same test between random "
           "halves of the real continuations, new halves each repeat.", "",
           "Features it leans on most (standardized weight; positive points to real): "
           + ", ".join(f"{name} {w:+.2f}" for name, w in giveaways(report)) + ".", "",
           "![two-sample](two_sample.png)", "",
           "## MuseGAN bar metrics", "", *bar_table(report), "",
           *(["## Noise", "", "Each GAN variation draws its new bars from the latents of the seed's bars plus "
              "noise. Jaccard distance of piano-roll cells (0: the same bar, 1: nothing in common) of each new bar "
              f"from the seed bar it varies, and between variations; {report['noise_ladder']['seeds']} seeds, "
              f"{report['noise_ladder']['variations']} variations each.", "", *ladder_table(report["noise_ladder"]),
              ""] if "noise_ladder" in report else []),
           "## Originality", "",
           f"Longest passage of each continuation's top voice whose intervals and rhythm occur in a training "
           f"piece (transpositions count); {report['originality']['flag_bars']:g} bars or more is flagged. "
           + ("The copy guard was on, as in the app: a flagged take is drawn again, up to "
              f"{REDRAWS} times, and the draw copying least is kept (first draws: before it). "
              if report["originality"].get("copy_guard") else "") +
           f"Generated: mean {_f(og['longest_bars']['mean'])} bars, median {_f(og['longest_bars']['median'])}, "
           f"longest {_f(og['longest_bars']['max'])}.", "", *copy_table(report), "",
           "![originality](originality.png)", ""]
    if og["flagged_pieces"]:
        out += ["| seed | copied bars | from training piece |", "|---|---|---|"]
        out += [f"| {f['seed']} | {f['bars']:.2f} | {f['source']} |" for f in og["flagged_pieces"][:10]]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------- plots
def _finite(values: list[Any]) -> np.ndarray:
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def feature_figure(report: dict[str, Any]) -> Figure:
    """One panel per feature: generated and real distributions as overlaid histograms."""
    features = report["features"]
    cols = 4
    rows = -(-len(features) // cols)
    fig = Figure(figsize=(4 * cols, 2.6 * rows), dpi=90, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, f in zip(axes, features, strict=False):
        g, r = _finite(f["values"]["generated"]), _finite(f["values"]["real"])
        both = np.concatenate([g, r])
        bins = np.histogram_bin_edges(both, bins=20) if both.size and np.ptp(both) > 0 else 10
        ax.hist(r, bins=bins, density=True, alpha=0.55, color=REAL_COLOUR, label="real")
        ax.hist(g, bins=bins, density=True, alpha=0.55, color=GENERATED_COLOUR, label="generated")
        ax.set_title(f"{f['label']}\noverlap {_f(f['overlap'])}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(features):]:
        ax.axis("off")
    axes[0].legend(fontsize=7)
    return fig


def histogram_figure(report: dict[str, Any]) -> Figure:
    """Mean note-length histogram, and mean melodic pitch-class transitions, generated and real."""
    h = report["histograms"]
    fig = Figure(figsize=(14, 4), dpi=90, layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    x = np.arange(len(h["note_length"]["classes"]))
    ax1.bar(x - 0.2, h["note_length"]["real"], 0.4, color=REAL_COLOUR, label="real")
    ax1.bar(x + 0.2, h["note_length"]["generated"], 0.4, color=GENERATED_COLOUR, label="generated")
    ax1.set_xticks(x, h["note_length"]["classes"], fontsize=8)
    ax1.set_title("note lengths (share of notes)")
    ax1.legend(fontsize=8)
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    for ax, key in ((ax2, "real"), (ax3, "generated")):
        matrix = np.array(h["pitch_class_transitions"][key]).reshape(12, 12)
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(12), names, fontsize=7)
        ax.set_yticks(range(12), names, fontsize=7)
        ax.set_title(f"melodic pitch-class moves, {key}\n(row: from, column: to)", fontsize=9)
    return fig


def two_sample_figure(report: dict[str, Any]) -> Figure:
    """Fold accuracies: generated vs real, and real vs real (the noise floor)."""
    ts = report["two_sample"]
    fig = Figure(figsize=(6, 3.2), dpi=90, layout="constrained")
    ax = fig.subplots()
    ax.boxplot([ts["generated_vs_real"]["folds"], ts["real_vs_real"]["folds"]], orientation="horizontal")
    ax.set_yticks([1, 2], ["generated vs real", "real vs real"])
    ax.axvline(0.5, color="#999", linestyle=":", label="chance")
    ax.axvline(report["targets"]["two_sample"]["bound"], color="#c44", linestyle="--", label="target")
    ax.set_xlabel("held-out accuracy per fold")
    ax.legend(fontsize=8)
    return fig


def originality_figure(report: dict[str, Any]) -> Figure:
    """Longest copied passage per continuation, generated and real, with the flag line."""
    o = report["originality"]
    fig = Figure(figsize=(6, 3.2), dpi=90, layout="constrained")
    ax = fig.subplots()
    g, r = np.array(o["generated"]["bars"], float), np.array(o["real"]["bars"], float)
    top = max(float(np.max(np.r_[g, r, o["flag_bars"]])), 1.0)
    bins = np.linspace(0, top, 25)
    ax.hist(r, bins=bins, alpha=0.55, color=REAL_COLOUR, label="real continuations", density=True)
    ax.hist(g, bins=bins, alpha=0.55, color=GENERATED_COLOUR, label="generated", density=True)
    ax.axvline(o["flag_bars"], color="#c44", linestyle="--", label="flag")
    ax.set_xlabel("longest passage found in the training pieces (bars)")
    ax.legend(fontsize=8)
    return fig


PLOTS = {"features.png": feature_figure, "histograms.png": histogram_figure, "two_sample.png": two_sample_figure,
         "originality.png": originality_figure}


def write_report(report: dict[str, Any], folder: Path | None = None) -> Path:
    """Write ``report.json``, ``report.md`` and the plots into ``folder`` (default: the model's); return it."""
    folder = Path(folder) if folder else default_report_dir(report["model"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(to_json(report))
    (folder / "report.md").write_text(markdown(report))
    for name, draw in PLOTS.items():
        draw(report).savefig(folder / name)
    return folder
