"""The benchmark suite: ``python -m musicgen bench`` (``make bench``).

Each case is timed as the median of several runs after a warm-up, beside the
baseline a user would otherwise call, in the same run. Prints a table and writes
JSON with the machine it ran on. Benchmarks measure; the tests never assert a time.
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
from .score import Score


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


def _result(suite: str, case: str, times: list[float], music_s: float | None = None, **extra: float | str) -> Result:
    return Result(suite, case, statistics.median(times), min(times), max(times), len(times), music_s, dict(extra))


def bench_chorale() -> Score:
    """BWV 66.6, the whole chorale, from music21's corpus (about 22 s of music)."""
    from .corpus import load_corpus_piece

    return load_corpus_piece("bwv66.6")


def suite_audio(repeat: int) -> list[Result]:
    """FluidSynth rendering against pretty_midi's two ways of calling FluidSynth."""
    import fluidsynth

    from .midi import score_to_pretty_midi

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
        "musicgen render, no reverb/chorus": (lambda: render(score, dry), rendered.seconds),
        SEQUENTIAL: (lambda: [render(v) for v in variations], 4 * rendered.seconds),
        PARALLEL: (lambda: render_many(variations), 4 * rendered.seconds),
    }
    times = time_cases({name: fn for name, (fn, _) in cases.items()}, repeat)
    synth.delete()
    results = [_result("audio", name, times[name], music) for name, (_, music) in cases.items()]
    for fmt in ("wav", "flac", "ogg"):
        size = len(encode(rendered, fmt))
        fmt_times = time_cases({fmt: lambda fmt=fmt: encode(rendered, fmt)}, repeat)[fmt]
        results.append(_result("audio", f"encode {fmt}", fmt_times, kilobytes=round(size / 1024, 1)))
    return results


PER_CALL = "pretty_midi fluidsynth, SoundFont loaded per call"
REUSED = "pretty_midi fluidsynth, reused synthesizer"
OURS = "musicgen render (stereo, reverb + chorus)"
SEQUENTIAL = "4 variations, one after another"
PARALLEL = "4 variations, render_many (parallel)"


SUITES: dict[str, Callable[[int], list[Result]]] = {"audio": suite_audio}


def machine() -> dict[str, str | int]:
    """Where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count() or 1, "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}


def format_table(results: list[Result]) -> str:
    """A Markdown table of the results."""
    lines = ["| suite | case | median | min | max | real time | notes |", "|---|---|---|---|---|---|---|"]
    for r in results:
        rt = f"{r.realtime:.0f}x" if r.realtime else ""
        notes = ", ".join(f"{k} {v}" for k, v in r.extra.items())
        lines.append(f"| {r.suite} | {r.case} | {r.median_s * 1000:.1f} ms | {r.min_s * 1000:.1f} ms "
                     f"| {r.max_s * 1000:.1f} ms | {rt} | {notes} |")
    return "\n".join(lines)


def run(suites: list[str], repeat: int = 5, json_path: Path | None = None) -> list[Result]:
    """Run the named suites, print the table, and write JSON when asked."""
    results: list[Result] = []
    for name in suites:
        results += SUITES[name](repeat)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}")
    print(format_table(results))
    speedups = _speedups(results)
    for label, value in speedups.items():
        print(f"{label}: {value:.2f}x")
    if json_path:
        payload = {"machine": info, "results": [asdict(r) | {"realtime": r.realtime} for r in results],
                   "speedups": speedups}
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {json_path}")
    return results


def _speedups(results: list[Result]) -> dict[str, float]:
    by_case = {r.case: r.median_s for r in results}
    out = {}
    if OURS in by_case:
        out["render vs pretty_midi per call"] = by_case[PER_CALL] / by_case[OURS]
        out["render vs pretty_midi reused synth"] = by_case[REUSED] / by_case[OURS]
        out["4 variations: parallel vs one by one"] = by_case[SEQUENTIAL] / by_case[PARALLEL]
    return out
