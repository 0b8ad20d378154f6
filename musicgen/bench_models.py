"""Benchmark suites of the models: load, generation, the app's request path, peak memory.

``models``: load time; 8 bars x 8 variations from a chorale seed, as one batch
against one variation at a time (the speedup; target 3x); the real-time factor,
seconds of music per second of compute, taken one variation at a time (a single
stream: target 20x for the RNN). ``request``: the whole path the Compose page runs
(seed bytes -> variations -> audio, piano-roll PNGs, MIDI bytes) for 8 bars x 4
variations, per stage (targets 1.5 s RNN, 0.5 s GAN), and again before the seed's
audio is played. ``memory``: peak resident memory of a fresh process that loads
every model and serves the request path (target 1.5 GB). On a GPU, ``models`` also checks the device's music against the
CPU's, in distribution (the random streams differ, so the notes do).
"""

from __future__ import annotations

import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .bench import BenchSettings, SuiteOutput, check, result, time_cases
from .continuations import forget_seed_parts
from .generate import LoadedModel, generate, load_model
from .midi import load_midi
from .models.registry import list_models
from .sampling import SampleParams, choose_device
from .score import Score
from .takes import ShownTake, show_takes

# The targets, per family: the whole request path, seconds.
REQUEST_TARGET_S = {"rnn": 1.5, "gan": 0.5}
BATCH_SPEEDUP_TARGET = 3.0
REALTIME_TARGET = {"rnn": 20.0}
PEAK_MEMORY_TARGET_MB = 1500.0
VARIATIONS = 8  # generation: batched against one at a time
REQUEST_VARIATIONS = 4  # the request path


def model_names(settings: BenchSettings) -> list[str]:
    """The models a run measures: those asked for, else every shipped one."""
    return list(settings.models) or [e.name for e in list_models() if e.shipped]


def new_music_seconds(seed: Score, bars: int) -> float:
    """Seconds of ``bars`` new bars in the seed's meter and tempo."""
    return bars * seed.steps_per_bar * seed.seconds_per_step


def suite_models(settings: BenchSettings) -> SuiteOutput:
    """Load time, batched against one-at-a-time generation, real time (and, on a GPU, CPU agreement)."""
    out = SuiteOutput()
    device = choose_device(settings.device)
    seed = load_midi(settings.seed)
    take_s = new_music_seconds(seed, settings.bars)
    n = VARIATIONS
    batched = SampleParams(bars=settings.bars, n_variations=n, random_seed=0)
    singles = [SampleParams(bars=settings.bars, n_variations=1, random_seed=i) for i in range(n)]
    for name in model_names(settings):
        load = time_cases({"load": lambda name=name: load_model(name, device)}, settings.repeat)["load"]
        model = load_model(name, device)
        family = model.family.name
        out.results.append(result("models", f"{name}: load", load))
        cases = {"batched": lambda m=model: generate(m, seed, batched),
                 "one at a time": lambda m=model: [generate(m, seed, p) for p in singles]}
        if family == "rnn":
            plain = _plain_rnn(model)
            if plain is not None:
                cases["batched, nn.LSTM per token"] = lambda m=plain: generate(m, seed, batched)
        times = time_cases(cases, settings.repeat)
        label = f"{name}: {settings.bars} bars x {n} variations"
        for case, case_times in times.items():
            out.results.append(result("models", f"{label}, {case}", case_times, n * take_s))
        speedup = statistics.median(times["one at a time"]) / statistics.median(times["batched"])
        out.checks.append(check("models", f"{name}: batched vs one at a time", speedup, "x",
                                at_least=BATCH_SPEEDUP_TARGET))
        if "batched, nn.LSTM per token" in times:
            gain = statistics.median(times["batched, nn.LSTM per token"]) / statistics.median(times["batched"])
            out.checks.append(check("models", f"{name}: RnnStepper vs nn.LSTM per token (batched)", gain, "x"))
        single_stream = take_s / (statistics.median(times["one at a time"]) / n)
        out.checks.append(check("models", f"{name}: real time, one stream", single_stream, "x",
                                at_least=REALTIME_TARGET.get(family)))
        if device.type != "cpu":
            agreement = device_agreement(name, model, seed, settings.bars)
            out.figures |= {f"{name}: {k}": v for k, v in agreement.items()}
    out.notes.append(f"Real time: seconds of music per second of compute; one stream = one variation per call "
                     f"({take_s:.1f} s of music per take).")
    return out


def _plain_rnn(model: LoadedModel) -> LoadedModel | None:
    """The same RNN sampled through ``nn.LSTM`` once per token (the path before ``RnnStepper``)."""
    from dataclasses import replace

    from .models.rnn import RnnFamily

    try:
        return replace(model, family=RnnFamily(fast_step=False))
    except TypeError:  # an RnnFamily without the choice
        return None


def device_agreement(name: str, model: LoadedModel, seed: Score, bars: int, takes: int = 8) -> dict[str, float]:
    """The model on its device against the same weights on the CPU, same random seed, fp32.

    An RNN's next-token logits after the seed must agree to float rounding.
    Generated music cannot match note for note (the devices' random streams
    differ), so its statistics are compared: notes per take, mean pitch and the
    share of each pitch class.
    """
    cpu = load_model(name, "cpu")
    params = SampleParams(bars=bars, n_variations=takes, random_seed=0)
    stats = {}
    for label, m in (("device", model), ("cpu", cpu)):
        new = [n for t in generate(m, seed, params) for n in t.notes if n.track >= len(seed.tracks)]
        pitches = np.array([n.pitch for n in new] or [0])
        stats[label] = (len(new) / takes, float(pitches.mean()), np.bincount(pitches % 12, minlength=12) / len(pitches))
    figures = {"notes per take (device)": stats["device"][0], "notes per take (cpu)": stats["cpu"][0],
               "mean pitch (device)": stats["device"][1], "mean pitch (cpu)": stats["cpu"][1],
               "pitch-class share, largest difference": float(np.abs(stats["device"][2] - stats["cpu"][2]).max())}
    if model.family.name == "rnn":
        tokens, positions = model.family.encode(model.family.prepare(seed, model.config), model.config)
        with torch.inference_mode():
            logits = [m.network(torch.from_numpy(tokens)[None].to(m.device),
                                torch.from_numpy(positions)[None].to(m.device))[0][0, -1].cpu()
                      for m in (model, cpu)]
        figures["next-token logits, largest difference"] = float((logits[0] - logits[1]).abs().max())
    return figures


@dataclass(frozen=True)
class Request:
    """What the Compose page makes of one request."""

    takes: list[ShownTake]  # each with its audio (browser format and WAV), piano-roll PNG and MIDI


STAGES = ("read seed", "generate", "piano rolls", "MIDI", "audio")


def serve_request(model: LoadedModel, seed_bytes: bytes, params: SampleParams,
                  stage_times: dict[str, float] | None = None) -> Request:
    """The Compose page's work for one request, as it does it (``pages/compose.py``).

    When ``stage_times`` is given, each stage's wall time is written into it; the
    audio renders while the piano rolls are drawn (:func:`musicgen.takes.show_takes`),
    so its figure is the wait for it after them.
    """
    times = stage_times if stage_times is not None else {}
    start = time.perf_counter()
    seed = load_midi(seed_bytes)
    times["read seed"] = time.perf_counter() - start
    start = time.perf_counter()
    takes = generate(model, seed, params)
    times["generate"] = time.perf_counter() - start
    return Request(show_takes(takes, len(seed.tracks), shared_until=seed.padded_to_bar().length, stage_times=times))


def app_params(model: LoadedModel, bars: int, build: bool = False) -> SampleParams:
    """The request's settings as Compose makes them: the defaults, and the copy guard on when the
    model's copy index is ready (``build``: read its corpus first if need be, before any timing;
    the app does that in a process of its own, which is why the memory probe does not)."""
    from .errors import MusicgenError
    from .originality import copy_guard_ready, copy_index

    if build:  # a model whose card names no corpus found here runs unguarded, as in Compose
        with contextlib.suppress(MusicgenError):
            copy_index(model)
    return SampleParams(bars=bars, n_variations=REQUEST_VARIATIONS, random_seed=0,
                        avoid_copies=copy_guard_ready(model))


def suite_request(settings: BenchSettings) -> SuiteOutput:
    """The whole request path for 8 bars x 4 variations, each model in turn, per stage."""
    out = SuiteOutput()
    device = choose_device(settings.device)
    seed_bytes = settings.seed.read_bytes()
    models = {name: load_model(name, device) for name in model_names(settings)}
    params = {name: app_params(model, settings.bars, build=True) for name, model in models.items()}

    def case(name: str, new_seed: bool) -> None:
        if new_seed:
            forget_seed_parts()
        times: dict[str, float] = {}
        serve_request(models[name], seed_bytes, params[name], times)
        stages[(name, new_seed)].append(times)

    stages: dict[tuple[str, bool], list[dict[str, float]]] = {(n, new): [] for n in models for new in (False, True)}
    times = time_cases({key: lambda key=key: case(*key) for key in stages}, settings.repeat)
    take_s = new_music_seconds(load_midi(seed_bytes), settings.bars)
    for (name, new_seed), case_times in times.items():
        model = models[name]
        timed = stages[(name, new_seed)][1:]  # after the warm-up
        per_stage = {f"{s} ms": round(1000 * statistics.median(t[s] for t in timed), 1) for s in STAGES}
        label = (f"{name}: {settings.bars} bars x {REQUEST_VARIATIONS} variations, whole path"
                 + (", seed's audio not yet played" if new_seed else "")
                 + ("" if params[name].avoid_copies else " (no copy guard: its corpus is not here)"))
        out.results.append(result("request", label, case_times, REQUEST_VARIATIONS * take_s, **per_stage))
        what = "whole request path, seed's audio not yet played" if new_seed else "whole request path"
        out.checks.append(check("request", f"{name}: {what}", statistics.median(case_times), "s",
                                at_most=None if new_seed else REQUEST_TARGET_S.get(model.family.name)))
    out.notes.append("Request: the whole path with the seed's audio ready, as Compose has it (it plays a seed "
                     "when it is picked, continuations.prepare_continuations, and keeps it); 'seed's audio not yet "
                     "played': a request that plays the seed too (Generate clicked before that was done).")
    return out


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MB (2**20 bytes).

    On Linux this is ``VmHWM`` of ``/proc/self/status``: ``getrusage``'s ``ru_maxrss``
    carries over the peak of the process that started this one (Linux keeps it
    across ``exec``), so a probe started from a big benchmark process would report
    at least the benchmark's own size. Elsewhere, ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def suite_memory(settings: BenchSettings) -> SuiteOutput:
    """Peak memory of a fresh process: once the engine is imported, and once every model is loaded and serving."""
    names = model_names(settings)
    args = [sys.executable, "-m", "musicgen.bench_models", "--seed", str(settings.seed), "--bars", str(settings.bars)]
    if settings.device:
        args += ["--device", settings.device]
    done = subprocess.run([*args, *names], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory probe failed:\n{done.stderr.strip()}")
    return memory_checks(json.loads(done.stdout.strip().splitlines()[-1]), len(names))


def memory_checks(figures: dict[str, float], n_models: int) -> SuiteOutput:
    """The memory suite's checks from the probe's figures (``imported_mb``, ``peak_mb``)."""
    out = SuiteOutput()
    out.checks.append(check("memory", "peak memory, engine imported", figures["imported_mb"], "MB"))
    out.checks.append(check("memory", f"peak memory, {n_models} models loaded, request served",
                            figures["peak_mb"], "MB", at_most=PEAK_MEMORY_TARGET_MB))
    out.figures |= {f"memory: {k}": v for k, v in figures.items()}
    return out


def _memory_probe(argv: list[str]) -> None:
    """``python -m musicgen.bench_models [--device D] [--seed MIDI] [--bars N] MODEL...``.

    Loads every model, serves the request path once with each, and prints the
    peak memory (MB) after the imports and at the end, as JSON.
    """
    import argparse

    parser = argparse.ArgumentParser(description="Peak memory of a process serving the models.")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--device")
    parser.add_argument("--seed", type=Path, default=BenchSettings().seed)
    parser.add_argument("--bars", type=int, default=8)
    args = parser.parse_args(argv)
    imported = peak_memory_mb()
    models = [load_model(name, args.device) for name in args.models]
    for model in models:
        serve_request(model, args.seed.read_bytes(), app_params(model, args.bars))
    print(json.dumps({"imported_mb": round(imported, 1), "peak_mb": round(peak_memory_mb(), 1)}))


if __name__ == "__main__":
    _memory_probe(sys.argv[1:])
