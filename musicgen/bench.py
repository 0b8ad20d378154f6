"""The benchmark suite: ``python -m musicgen bench`` (``make bench``).

Each case is timed as the median of several runs after a warm-up, beside the
baseline a user would otherwise call, in the same run, the cases taking turns.
Prints a table, the targets met or missed, and writes JSON with the machine it ran
on. Benchmarks measure; the tests never assert a time.

Suites: ``audio`` (rendering against pretty_midi's FluidSynth path, here), ``models``
(load time, generation batched against one variation at a time, real time),
``request`` (the app's whole request path), ``memory`` (peak memory of a process
serving every shipped model) in ``bench_models.py``; ``step`` (the RNN's sampling
step: the ladder of implementations, the physical floor, int8) in ``bench_step.py``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .audio import RenderOptions, encode, find_soundfont, render, render_many
from .paths import ASSETS
from .score import Score

CHORALE_SEED = ASSETS / "examples" / "bach-chorale-bwv66.6-opening.mid"


@dataclass(frozen=True)
class BenchSettings:
    """What a benchmark run measures, and where."""

    repeat: int = 5  # timed runs per case, after one warm-up
    device: str | None = None  # cpu, cuda, mps; None: the best there is (sampling.choose_device)
    models: tuple[str, ...] = ()  # model names or folders; empty: every shipped model
    seed: Path = CHORALE_SEED  # the seed MIDI file generation starts from
    bars: int = 8  # bars generated per take
    compile: bool = False  # step suite: also time the stepper under torch.compile and TorchScript (slow to make)


@dataclass
class Result:
    """One timed case."""

    suite: str
    case: str
    median_s: float
    min_s: float
    max_s: float
    runs: int
    music_s: float | None = None  # seconds of music produced, for the real-time factor
    extra: dict[str, float | str] = field(default_factory=dict)

    @property
    def realtime(self) -> float | None:
        """Seconds of music per second of compute."""
        return self.music_s / self.median_s if self.music_s else None


@dataclass
class Check:
    """A figure derived from the cases (a speedup, a peak), with its target when it has one."""

    suite: str
    label: str
    value: float
    unit: str  # "x", "s", "ms", "MB"
    target: str = ""  # e.g. "<= 1.5 s"; empty: reported only
    met: bool | None = None


def check(suite: str, label: str, value: float, unit: str, at_most: float | None = None,
          at_least: float | None = None) -> Check:
    """A :class:`Check`, met or missed against ``at_most`` / ``at_least`` (in ``unit``)."""
    if at_most is not None:
        return Check(suite, label, value, unit, f"<= {at_most:g} {unit}".replace(" x", "x"), value <= at_most)
    if at_least is not None:
        return Check(suite, label, value, unit, f">= {at_least:g} {unit}".replace(" x", "x"), value >= at_least)
    return Check(suite, label, value, unit)


@dataclass
class SuiteOutput:
    """What a suite returns: timed cases, checks, and lines of explanation."""

    results: list[Result] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float | str] = field(default_factory=dict)  # other measured figures, for the JSON

    def extend(self, other: SuiteOutput) -> None:
        self.results += other.results
        self.checks += other.checks
        self.notes += other.notes
        self.figures |= other.figures


def time_cases(cases: dict[str, Callable[[], object]], repeat: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall times of each case, ``repeat`` runs after ``warmup`` untimed ones.

    The cases take turns (round robin), so a noisy neighbour slows them alike and
    the ratios between them stay fair.
    """
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def result(suite: str, case: str, times: list[float], music_s: float | None = None, **extra: float | str) -> Result:
    """A :class:`Result` from a case's wall times."""
    return Result(suite, case, statistics.median(times), min(times), max(times), len(times), music_s, dict(extra))


def bench_chorale() -> Score:
    """BWV 66.6, the whole chorale, from music21's corpus (about 22 s of music)."""
    from .corpus import load_corpus_piece

    return load_corpus_piece("bwv66.6")


def suite_audio(settings: BenchSettings) -> SuiteOutput:
    """FluidSynth rendering against pretty_midi's two ways of calling FluidSynth."""
    import fluidsynth

    from .midi import score_to_pretty_midi

    repeat = settings.repeat
    score = bench_chorale()
    sf2 = str(find_soundfont())
    pm = score_to_pretty_midi(score)
    synth = fluidsynth.Synth(samplerate=44100.0)
    sfid = synth.sfload(sf2)
    rendered = render(score)
    variations = [score.transpose(k) for k in (-2, -1, 1, 2)]
    dry = RenderOptions(effects=False)
    cases: dict[str, tuple[Callable[[], object], float | None]] = {
        PER_CALL: (lambda: pm.fluidsynth(fs=44100, synthesizer=sf2), score.duration_seconds),
        REUSED: (lambda: pm.fluidsynth(fs=44100, synthesizer=synth, sfid=sfid), score.duration_seconds),
        OURS: (lambda: render(score), rendered.seconds),
        "musicgen render, no effects": (lambda: render(score, dry), rendered.seconds),
        SEQUENTIAL: (lambda: [render(v) for v in variations], 4 * rendered.seconds),
        PARALLEL: (lambda: render_many(variations), 4 * rendered.seconds),
    }
    times = time_cases({name: fn for name, (fn, _) in cases.items()}, repeat)
    synth.delete()
    out = SuiteOutput([result("audio", name, times[name], music) for name, (_, music) in cases.items()])
    for fmt in ("wav", "flac", "ogg"):
        size = len(encode(rendered, fmt))
        fmt_times = time_cases({fmt: lambda fmt=fmt: encode(rendered, fmt)}, repeat)[fmt]
        out.results.append(result("audio", f"encode {fmt}", fmt_times, kilobytes=round(size / 1024, 1)))
    median = {r.case: r.median_s for r in out.results}
    out.checks += [
        check("audio", "render vs pretty_midi per call", median[PER_CALL] / median[OURS], "x"),
        check("audio", "render vs pretty_midi reused synth", median[REUSED] / median[OURS], "x"),
        check("audio", "4 variations: parallel vs one by one", median[SEQUENTIAL] / median[PARALLEL], "x"),
    ]
    return out


PER_CALL = "pretty_midi fluidsynth, SoundFont loaded per call"
REUSED = "pretty_midi fluidsynth, reused synthesizer"
OURS = "musicgen render (stereo, with effects)"
SEQUENTIAL = "4 variations, one after another"
PARALLEL = "4 variations, render_many (parallel)"


def _suite_models(settings: BenchSettings) -> SuiteOutput:
    from .bench_models import suite_models

    return suite_models(settings)


def _suite_request(settings: BenchSettings) -> SuiteOutput:
    from .bench_models import suite_request

    return suite_request(settings)


def _suite_memory(settings: BenchSettings) -> SuiteOutput:
    from .bench_models import suite_memory

    return suite_memory(settings)


def _suite_step(settings: BenchSettings) -> SuiteOutput:
    from .bench_step import suite_step

    return suite_step(settings)


SUITES: dict[str, Callable[[BenchSettings], SuiteOutput]] = {
    "audio": suite_audio, "models": _suite_models, "request": _suite_request, "memory": _suite_memory,
    "step": _suite_step,
}


def machine(device: str | None = None) -> dict[str, str | int | float]:
    """Where the numbers were measured: CPU, cores, threads, device, load average."""
    import torch

    from .sampling import choose_device, describe_device

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    return {"cpu": cpu, "cores": os.cpu_count() or 1, "torch_threads": torch.get_num_threads(),
            "device": describe_device(choose_device(device)), "load_average": round(load, 2),
            "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}


def format_table(results: list[Result]) -> str:
    """A Markdown table of the results."""
    lines = ["| suite | case | median | min | max | real time | notes |", "|---|---|---|---|---|---|---|"]
    for r in results:
        rt = f"{r.realtime:.0f}x" if r.realtime else ""
        notes = ", ".join(f"{k} {v}" for k, v in r.extra.items())
        lines.append(f"| {r.suite} | {r.case} | {_ms(r.median_s)} | {_ms(r.min_s)} | {_ms(r.max_s)} | {rt} | {notes} |")
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms * 1000:.1f} µs"


def format_checks(checks: list[Check]) -> str:
    """A Markdown table of the derived figures and their targets."""
    lines = ["| suite | figure | value | target | |", "|---|---|---|---|---|"]
    for c in checks:
        value = f"{c.value:.2f}x" if c.unit == "x" else f"{c.value:,.3g} {c.unit}"
        verdict = "" if c.met is None else "met" if c.met else "MISSED"
        lines.append(f"| {c.suite} | {c.label} | {value} | {c.target} | {verdict} |")
    return "\n".join(lines)


def run(suites: list[str], settings: BenchSettings | None = None, json_path: Path | None = None) -> SuiteOutput:
    """Run the named suites, print the tables, and write JSON when asked."""
    settings = settings or BenchSettings()
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite {unknown[0]!r}: use {', '.join(SUITES)}")
    before = machine(settings.device)
    out = SuiteOutput()
    for name in suites:
        out.extend(SUITES[name](settings))
    info = machine(settings.device) | {"load_average_before": before["load_average"]}
    print(f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} on {info['device']}, "
          f"Python {info['python']}, load average {info['load_average_before']} -> {info['load_average']}")
    print(format_table(out.results))
    if out.checks:
        print()
        print(format_checks(out.checks))
    for line in out.notes:
        print(line)
    if json_path:
        payload = {"machine": info, "settings": {**asdict(settings), "seed": str(settings.seed)},
                   "results": [asdict(r) | {"realtime": r.realtime} for r in out.results],
                   "checks": [asdict(c) for c in out.checks], "figures": out.figures, "notes": out.notes}
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {json_path}")
    return out
