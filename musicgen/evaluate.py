"""Is it any good? A model's continuations of held-out seeds against the real continuations.

For a model (any family, through :func:`musicgen.generate.generate`):

1. the held-out pieces of the corpus it learned from (the test split, see
   :mod:`musicgen.modelcorpus`) give seeds, their first ``seed_bars`` bars, and the
   real continuations, the next ``bars`` bars (fewer where a piece ends sooner);
2. the model continues each seed (``samples`` continuations in all, as many
   variations per seed as that takes) at the app's default settings;
3. every feature of :mod:`musicgen.metrics` is computed per continuation, for
   generated and real, and compared: mean and spread side by side, overlapping
   area per feature (Yang & Lerch 2018), and a classifier two-sample test with the
   real-vs-real split as its noise floor (:mod:`musicgen.twosample`);
4. MuseGAN's bar metrics over every generated bar against every bar of the
   held-out pieces, and for a GAN its noise ladder (:mod:`musicgen.noise_ladder`);
5. originality: the longest passage of each continuation copied from the training
   pieces (:mod:`musicgen.originality`), and the same for the real continuations
   as a baseline.

:func:`evaluate_model` returns a JSON-able dict; :mod:`musicgen.evalreport`
writes it as JSON, Markdown and plots.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from . import metrics
from .corpus import Corpus
from .errors import MusicgenError
from .modelcorpus import CorpusSpec, corpus_spec, load_spec
from .noise_ladder import noise_ladder
from .originality import FLAG_BARS, CopyCheck, CopyIndex, copy_index
from .score import Score
from .twosample import TwoSampleResult, classifier_two_sample_test, overlapping_area, relative_overlap

Progress = Callable[[int, int], None]  # (continuations done, total)

# The targets for the shipped models.
TARGET_OVERLAP = 0.7  # overlapping area, on every feature
TARGET_ACCURACY = 0.70  # two-sample accuracy, every model
TARGET_ACCURACY_CHORALES = 0.60  # two-sample accuracy, the RNN on chorales
TARGET_COPY_RATE = 0.05  # share of continuations flagged for copying
CHORALE_CORPORA = ("jsb", "bach")
COPY_LENGTHS = (2, 3, 4, 8)  # bars: the share of pieces with a copied passage at least this long, for context


class EvaluationError(MusicgenError):
    """The evaluation cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class EvalSettings:
    """How an evaluation is run; stored in its report."""

    samples: int = 160  # generated continuations in all (more variations per seed when seeds are few)
    max_seeds: int = 80  # held-out pieces used as seeds, at most (generation time grows with seeds, not variations)
    seed_bars: int = 2  # bars of each held-out piece given as the seed
    bars: int = 8  # bars to continue (fewer where the real piece ends sooner)
    min_bars: int = 4  # pieces with fewer bars after the seed are not used as seeds
    temperature: float = 1.0  # the app's defaults (SampleParams')
    top_p: float = 1.0
    random_seed: int = 0  # generation seed i uses random_seed + i; the classifier's folds use it too
    avoid_copies: bool = True  # the copy guard, as the app runs it (musicgen.copyguard)
    split: str = "test"  # the held-out pieces: "test" to report, "valid" to choose settings by (test stays unseen)
    folds: int = 5  # k of the k-fold cross-validation
    repeats: int = 5  # reshuffled repeats of it

    def __post_init__(self) -> None:
        if self.samples < 2 or self.max_seeds < 2:
            raise EvaluationError("Ask for at least 2 samples and 2 seeds (the two-sample test needs two of each).")
        if self.seed_bars < 1 or self.bars < 1 or not 1 <= self.min_bars <= self.bars:
            raise EvaluationError("Seed bars and bars must be at least 1, and min_bars between 1 and bars.")
        if self.split not in ("valid", "test"):
            raise EvaluationError('Evaluate against the "test" split, or "valid" when choosing settings.')
        if self.folds < 2 or self.repeats < 1:
            raise EvaluationError("Use at least 2 folds and 1 repeat.")


@dataclass(frozen=True)
class Seed:
    """One held-out piece used as a seed."""

    name: str
    piece: Score  # the whole held-out piece
    bars: int  # bars continued

    def seed(self, seed_bars: int) -> Score:
        return self.piece.crop_bars(0, seed_bars)

    def real(self, seed_bars: int) -> Score:
        """The real continuation, ``bars`` bars or up to the piece's end if that comes first (a
        last bar cut short by an upbeat is not padded with silence that no model would write);
        notes held over from the seed sound in it from its first step.

        (A model that holds a seed note on writes it as a note of the continuation too.)
        """
        bar = self.piece.steps_per_bar
        start = seed_bars * bar
        return window(self.piece, start, max(start, min((seed_bars + self.bars) * bar, self.piece.length)))


def window(score: Score, start: int, stop: int) -> Score:
    """Steps ``[start, stop)`` as a Score of their own, with notes held into it cut at ``start``."""
    held = [replace(n, start=start, duration=min(n.end, stop) - start)
            for n in score.notes if n.start < start < n.end]
    cropped = score.crop(start, stop)
    return cropped.with_notes([*cropped.notes, *(replace(n, start=0) for n in held)], length=stop - start)


def pick_seeds(held_out: list[tuple[str, Score]], settings: EvalSettings) -> list[Seed]:
    """Held-out pieces long enough to seed, sorted by name; evenly spread when there are more than needed."""
    seeds = []
    for name, piece in sorted(held_out, key=lambda p: p[0]):
        bars = min(settings.bars, piece.n_bars - settings.seed_bars)
        if bars < settings.min_bars:
            continue
        seed = Seed(name, piece, bars)
        if seed.seed(settings.seed_bars).has_pitched_notes and seed.real(settings.seed_bars).has_pitched_notes:
            seeds.append(seed)
    wanted = min(settings.samples, settings.max_seeds)
    if len(seeds) > wanted:
        keep = np.unique(np.linspace(0, len(seeds) - 1, wanted).round().astype(int))
        seeds = [seeds[i] for i in keep]
    return seeds


def _generate(model: Any, seeds: list[Seed], settings: EvalSettings, index: CopyIndex,
              progress: Progress | None) -> tuple[list[list[Score]], list[tuple[str, CopyCheck]]]:
    """Each seed's takes (the seed, then the new bars); ``samples`` in all. With the copy guard
    on, also the copy checks of the first draws (before any was drawn again), with the seed's name."""
    from .copyguard import redraw_copies
    from .generate import generate
    from .sampling import MAX_VARIATIONS, SampleParams

    base, extra = divmod(min(settings.samples, len(seeds) * MAX_VARIATIONS), len(seeds))
    out, first, done, total = [], [], 0, base * len(seeds) + extra
    for i, seed in enumerate(seeds):
        n = base + (i < extra)
        params = SampleParams(bars=seed.bars, n_variations=n, temperature=settings.temperature,
                              top_p=settings.top_p, random_seed=settings.random_seed + i)
        start = seed.seed(settings.seed_bars)
        if settings.avoid_copies:
            guarded = redraw_copies(lambda p, start=start: generate(model, start, p), params, index,
                                    start.padded_to_bar().length)
            out.append(guarded.takes)
            first += [(seed.name, c) for c in guarded.first_checks]
        else:
            out.append(generate(model, start, params))
        done += n
        if progress:
            progress(done, total)
    return out, first


def _stats(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    return {"mean": float(finite.mean()) if finite.size else float("nan"),
            "sd": float(finite.std()) if finite.size else float("nan"), "n": int(finite.size)}


def _relative(generated: float, real: float) -> float | None:
    return None if not real or not np.isfinite(real) else (generated - real) / abs(real)


def _copies(index: CopyIndex, pieces: list[tuple[str, Score, int]]) -> dict[str, Any]:
    return _copy_stats([(name, index.check(score, start)) for name, score, start in pieces])


def _copy_stats(checks: list[tuple[str, CopyCheck]]) -> dict[str, Any]:
    bars = np.array([c.bars for _, c in checks])
    flagged = [{"seed": name, **c.to_dict()} for name, c in checks if c.flagged]
    return {"pieces": len(checks), "flagged": len(flagged), "flag_rate": len(flagged) / max(1, len(checks)),
            "rate_at_least": {str(b): float((bars >= b).mean()) if bars.size else 0.0 for b in COPY_LENGTHS},
            "longest_bars": {"mean": float(bars.mean()) if bars.size else 0.0,
                             "median": float(np.median(bars)) if bars.size else 0.0,
                             "max": float(bars.max()) if bars.size else 0.0},
            "bars": bars.tolist(), "flagged_pieces": sorted(flagged, key=lambda f: -f["bars"])[:20]}


def _held_out_and_index(model: Any, corpus: Corpus | str | None,
                        split: str = "test") -> tuple[str, list[tuple[str, Score]], CopyIndex]:
    """The corpus label, its held-out pieces (of ``split``), and the index of its training pieces."""
    if isinstance(corpus, Corpus):
        loaded, label = corpus, corpus.name
        train = {id(s) for s in loaded.split("train")}
        index = CopyIndex.build([(p.name, p.score) for p in loaded.pieces if id(p.score) in train])
    else:
        spec: CorpusSpec = corpus_spec(model.card, corpus, model.name)
        loaded, label = load_spec(spec), spec.label
        index = copy_index(corpus=spec, loaded=loaded)
    chosen = {id(s) for s in loaded.split(split)}
    held_out = [(p.name, p.score) for p in loaded.pieces if id(p.score) in chosen]
    return label, held_out, index


def evaluate_model(model: Any, settings: EvalSettings | None = None, corpus: Corpus | str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate a loaded model (:class:`musicgen.generate.LoadedModel`) against held-out music.

    Parameters
    ----------
    model
        The model to evaluate; its card names the corpus it learned from.
    settings
        Samples, bars and the rest (:class:`EvalSettings`).
    corpus
        The corpus instead of the card's: a built-in name, a folder of MIDI files,
        or a :class:`musicgen.corpus.Corpus` (its test split is held out, its
        training split is checked for copies).
    progress
        Called with (continuations done, total) while generating.

    Raises
    ------
    EvaluationError
        When the corpus has too few held-out pieces long enough to seed.
    """
    settings = settings or EvalSettings()
    began = time.perf_counter()
    label, held_out, index = _held_out_and_index(model, corpus, settings.split)
    seeds = pick_seeds(held_out, settings)
    if len(seeds) < 4:
        raise EvaluationError(
            f"The held-out ({settings.split}) split of {label} has {len(seeds)} pieces of at least "
            f"{settings.seed_bars + settings.min_bars} bars: evaluation needs 4 or more. Use a larger corpus, or fewer "
            "--seed-bars.")
    takes, first_draws = _generate(model, seeds, settings, index, progress)
    start = [s.seed(settings.seed_bars).padded_to_bar().length for s in seeds]
    real = [s.real(settings.seed_bars) for s in seeds]
    # the new music only, as many beats as the real continuation
    generated = [[t.crop(st, st + round(r.length * t.steps_per_beat / r.steps_per_beat)) for t in group]
                 for r, st, group in zip(real, start, takes, strict=True)]
    flat = [g for group in generated for g in group]

    gen_x = np.array([metrics.feature_vector(g) for g in flat])  # (samples, features)
    real_x = np.array([metrics.feature_vector(r) for r in real])  # (seeds, features)
    features = []
    for j, f in enumerate(metrics.FEATURES):
        features.append({"name": f.name, "label": f.label, "generated": _stats(gen_x[:, j]),
                         "real": _stats(real_x[:, j]), "overlap": overlapping_area(gen_x[:, j], real_x[:, j]),
                         "values": {"generated": gen_x[:, j].tolist(), "real": real_x[:, j].tolist()}})

    histograms = {}
    for key, function in (("note_length", metrics.note_length_histogram),
                          ("pitch_class_transitions", metrics.pitch_class_transition_matrix)):
        g = np.array([function(s).ravel() for s in flat])
        r = np.array([function(s).ravel() for s in real])
        histograms[key] = {"generated": g.mean(axis=0).tolist(), "real": r.mean(axis=0).tolist(),
                           "overlap": relative_overlap(r, g)}
    histograms["note_length"]["classes"] = list(metrics.NOTE_LENGTH_NAMES)

    # Variation v of every seed against the real continuations, for each v every seed has; folds pooled.
    runs = [classifier_two_sample_test(np.array([metrics.feature_vector(group[v]) for group in generated]), real_x,
                                       settings.folds, settings.repeats, settings.random_seed + v)
            for v in range(min(len(group) for group in generated))]
    two_sample = _pooled(runs)
    floor = real_vs_real(real_x, settings)

    gen_bars = metrics.bar_metrics(flat)
    real_bars = metrics.bar_metrics(score for _, score in held_out)
    checked = [(s.name, t, st) for s, st, group in zip(seeds, start, takes, strict=True) for t in group]
    originals = [(s.name, s.piece.crop_bars(0, settings.seed_bars + s.bars), st)
                 for s, st in zip(seeds, start, strict=True)]
    report: dict[str, Any] = {
        "model": model.name, "family": model.family.name, "corpus": label,
        "description": model.card.get("description", ""), "settings": asdict(settings),
        "date": _dt.date.today().isoformat(), "device": str(model.device),
        "pieces": {"seeds": len(seeds), "generated": len(flat), "real_continuations": len(real),
                   "held_out": len(held_out), "training": len(index),
                   "generated_bars": int(gen_bars["bars"]), "held_out_bars": int(real_bars["bars"])},
        "features": features, "histograms": histograms,
        "two_sample": {"features": [f.name for f in metrics.FEATURES],
                       "generated_vs_real": two_sample.to_dict(), "real_vs_real": floor.to_dict()},
        "bar_metrics": {"generated": gen_bars, "real": real_bars,
                        "relative_difference": {k: _relative(gen_bars[k], real_bars[k]) for k in metrics.BAR_METRICS}},
        "originality": {"flag_bars": FLAG_BARS, "copy_guard": settings.avoid_copies,
                        "generated": _copies(index, checked), "real": _copies(index, originals),
                        **({"first_draws": _copy_stats(first_draws)} if first_draws else {})},
    }
    if model.family.name == "gan":
        report["noise_ladder"] = noise_ladder(model, seeds, settings)
    report["targets"] = targets(report)
    report["seconds"] = round(time.perf_counter() - began, 1)
    return report


def real_vs_real(real_x: np.ndarray, settings: EvalSettings) -> TwoSampleResult:
    """The noise floor: the two-sample test between random halves of the real pieces.

    One halving can land far from 50% by chance, so each repeat draws new halves
    (one ``folds``-fold pass each); the figure is over all of their folds.
    """
    rng = np.random.default_rng(settings.random_seed)
    half = len(real_x) // 2
    runs = []
    for k in range(settings.repeats):
        order = rng.permutation(len(real_x))
        runs.append(classifier_two_sample_test(real_x[order[:half]], real_x[order[half:2 * half]], settings.folds,
                                               1, settings.random_seed + k))
    return _pooled(runs)


def _pooled(runs: list[TwoSampleResult]) -> TwoSampleResult:
    """Several runs of the test as one: the folds of all, the weights of the first."""
    folds = tuple(a for run in runs for a in run.folds)
    return TwoSampleResult(float(np.mean(folds)), float(np.std(folds)), folds, runs[0].n_per_class, runs[0].weights)


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with the figure, the bound and whether it is met."""
    overlaps = {f["name"]: f["overlap"] for f in report["features"]}
    failing = sorted((n for n, v in overlaps.items() if not v >= TARGET_OVERLAP), key=lambda n: overlaps[n])
    chorales = report["family"] == "rnn" and report["corpus"].split()[0] in CHORALE_CORPORA
    bound = TARGET_ACCURACY_CHORALES if chorales else TARGET_ACCURACY
    accuracy = report["two_sample"]["generated_vs_real"]["accuracy"]
    rate = report["originality"]["generated"]["flag_rate"]
    return {"overlap": {"bound": TARGET_OVERLAP, "min": min(overlaps.values()), "failing": failing,
                        "met": not failing},
            "two_sample": {"bound": bound, "accuracy": accuracy, "met": accuracy <= bound},
            "copy_rate": {"bound": TARGET_COPY_RATE, "rate": rate, "met": rate < TARGET_COPY_RATE},
            **({"noise": {"at_zero": ladder["levels"][0]["from_seed"], "real": ladder["real_from_seed"],
                          "met": ladder["grows"] and ladder["closest_at_zero"]}}
               if (ladder := report.get("noise_ladder")) else {})}
