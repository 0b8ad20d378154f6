"""The RNN's sampling step, measured: the ladder of implementations, the physical floor, int8.

One step is "token in, next token sampled" for a batch of 4 sequences on the
shipped ``rnn-jsb`` (2 layers of 256 units): the rungs run the same weights as

- ``nn.LSTM`` called once per token (how the model is trained, and the old path);
- a loop of ``torch.lstm_cell`` over the layers (what ``nn.LSTMCell`` runs);
- :class:`~musicgen.models.rnn_step.RnnStepper` (the path generation takes);
- ``nn.LSTM`` after dynamic int8 quantization (CPU only);

and beside them the sampler alone and the whole generation loop per token
(masks and bookkeeping included). The floor is what the arithmetic cannot go
below: the bytes of weights read per step over memory bandwidth (a large numpy
copy), and the FLOPs per step over matrix-product throughput (``torch.mm`` of the
step's own shapes in a tight loop).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .bench import BenchSettings, SuiteOutput, check, result
from .generate import LoadedModel, generate, load_model
from .midi import load_midi
from .models.registry import list_models, resolve_model
from .models.rnn import RnnFamily
from .models.rnn_step import RnnStepper
from .sampling import SampleParams, choose_device, sample_logits

BATCH = 4
STEPS_PER_RUN = 100  # steps per timed run: the median over runs is divided by this
FLOOR_TARGET = 4.0  # the stepper's step at most this multiple of the floor
BIG_COPY_FLOATS = 2**25  # the bandwidth probe's array: 128 MB, far beyond every cache
NLL_TOLERANCE = 0.01  # int8 is kept only if the JSB NLL moves less than this (relative)
LADDER = ("nn.LSTM, one call per token", "torch.lstm_cell per layer", "RnnStepper",
          "nn.LSTM int8 (dynamic quantization)")


def step_model_name(settings: BenchSettings) -> str:
    """The RNN the step is measured on: the first RNN asked for, else rnn-jsb, else the first shipped RNN."""
    names = list(settings.models) or [e.name for e in list_models() if e.shipped]
    rnns = [n for n in names if _family_of(n) == "rnn"]
    if not rnns:
        raise ValueError("the step suite needs an RNN model")
    return "rnn-jsb" if not settings.models and "rnn-jsb" in rnns else rnns[0]


def _family_of(name: str) -> str:
    return json.loads((resolve_model(name) / "config.json").read_text()).get("family", "")


def ladder(network: nn.Module, batch: int, device: torch.device) -> dict[str, Callable[[], None]]:
    """One closure per rung; each call advances its own batch by one token (sampled, fed back)."""
    generator = torch.Generator(device=device.type).manual_seed(0)
    start = torch.full((batch,), 3, dtype=torch.long, device=device)
    positions = torch.zeros(batch, dtype=torch.long, device=device)
    L, H = network.lstm.num_layers, network.lstm.hidden_size

    def sample(logits: torch.Tensor) -> torch.Tensor:
        return sample_logits(logits, 1.0, 1.0, generator)

    def per_call(net: nn.Module) -> Callable[[], None]:
        s: dict = {"tok": start, "state": None}

        def step() -> None:
            logits, s["state"] = net(s["tok"][:, None], positions[:, None], s["state"])
            s["tok"] = sample(logits[:, -1])
        return step

    weights = [[getattr(network.lstm, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
               for k in range(L)]
    cells: dict = {"tok": start, "h": torch.zeros(L, batch, H, device=device), "c": torch.zeros(L, batch, H,
                                                                                                 device=device)}

    def cell_loop() -> None:
        x = network.tokens(cells["tok"]) + network.positions(positions)
        hs, cs = [], []
        for k in range(L):
            h, c = torch.lstm_cell(x, (cells["h"][k], cells["c"][k]), *weights[k])
            hs.append(h)
            cs.append(c)
            x = h
        cells["h"], cells["c"] = torch.stack(hs), torch.stack(cs)
        cells["tok"] = sample(network.head(x))

    stepper = RnnStepper(network, batch)
    fast: dict = {"tok": start}

    def stepped() -> None:
        fast["tok"] = sample(stepper.step(fast["tok"], positions))

    logits = torch.randn(batch, network.head.out_features, device=device)
    rungs = {LADDER[0]: per_call(network), LADDER[1]: cell_loop, LADDER[2]: stepped,
             "RnnStepper, logits only": lambda: stepper.step(start, positions),
             "sampling alone (softmax, multinomial)": lambda: sample(logits)}
    if device.type == "cpu":
        rungs[LADDER[3]] = per_call(quantized(network))
    return rungs


def compiled_rungs(network: nn.Module, batch: int, device: torch.device) -> dict[str, Callable[[], None]]:
    """The stepper's arithmetic through ``torch.compile`` (inductor) and TorchScript: slow to make, so opt-in."""
    generator = torch.Generator(device=device.type).manual_seed(0)
    positions = torch.zeros(batch, dtype=torch.long, device=device)
    rungs = {}
    eager = RnnStepper(network, batch)
    compiled = torch.compile(eager.step, dynamic=False)
    state: dict = {"compiled": torch.full((batch,), 3, dtype=torch.long, device=device)}

    def compiled_step() -> None:
        state["compiled"] = sample_logits(compiled(state["compiled"], positions), 1.0, 1.0, generator)

    rungs["RnnStepper under torch.compile"] = compiled_step
    scripted = torch.jit.script(_scripted_step)
    s = RnnStepper(network, batch)
    state["scripted"] = state["compiled"].clone()

    def scripted_step() -> None:
        torch.add(positions, state["scripted"], alpha=s.n_positions, out=s.index)
        logits = scripted(s.table, s.index, s.hs, s.c, s.gates, s.w_hh0, s.w[1:], s.b[1:], s.head_w, s.head_b,
                          s.logits, s.tanh_c, s.hidden, s.layers)
        state["scripted"] = sample_logits(logits, 1.0, 1.0, generator)

    if s.combined:
        rungs["RnnStepper's arithmetic under TorchScript"] = scripted_step
    return rungs


def _scripted_step(table: torch.Tensor, index: torch.Tensor, hs: torch.Tensor, c: torch.Tensor, gates: torch.Tensor,
                   w_hh0: torch.Tensor, w: list[torch.Tensor], b: list[torch.Tensor], head_w: torch.Tensor,
                   head_b: torch.Tensor, logits: torch.Tensor, tanh_c: torch.Tensor, H: int, L: int) -> torch.Tensor:
    """``RnnStepper.step`` as one function TorchScript can compile (the combined table only)."""
    g0 = gates[0]
    torch.index_select(table, 0, index, out=g0)
    g0.addmm_(hs[:, 0:H], w_hh0)
    for k in range(L):
        g = gates[k]
        if k > 0:
            torch.addmm(b[k - 1], hs[:, (k - 1) * H:(k + 1) * H], w[k - 1], out=g)
        g[:, :3 * H].sigmoid_()
        g[:, 3 * H:].tanh_()
        ck = c[k]
        ck.mul_(g[:, H:2 * H]).addcmul_(g[:, :H], g[:, 3 * H:])
        torch.tanh(ck, out=tanh_c)
        torch.mul(g[:, 2 * H:3 * H], tanh_c, out=hs[:, k * H:(k + 1) * H])
    return torch.addmm(head_b, hs[:, (L - 1) * H:], head_w, out=logits)


def quantized(network: nn.Module) -> nn.Module:
    """A copy with dynamic int8 quantization of the LSTM and the output layer."""
    with warnings.catch_warnings():  # torch 2.13 marks eager-mode quantization deprecated (moving to torchao)
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(network), {nn.LSTM, nn.Linear},
                                                      dtype=torch.qint8)


class CountingRnn(RnnFamily):
    """The RNN family, counting the steps its sampler takes (for time per token of the whole loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def make_stepper(self, model: nn.Module, batch: int) -> RnnStepper:
        stepper = super().make_stepper(model, batch)
        inner = stepper.step

        def step(tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            self.steps += 1
            return inner(tokens, positions)

        stepper.step = step  # type: ignore[method-assign]
        return stepper


def physical_floor(network: nn.Module, batch: int, device: torch.device) -> dict[str, float]:
    """Bytes and FLOPs of one step, the machine's bandwidth and matmul throughput, the floor in seconds."""
    L, H, V = network.lstm.num_layers, network.lstm.hidden_size, network.head.out_features
    shapes = [(batch, H, 4 * H)] + [(batch, 2 * H, 4 * H)] * (L - 1) + [(batch, H, V)]  # (rows, inner, outputs)
    flops = sum(2 * m * k * n for m, k, n in shapes)
    weight_bytes = 4 * (sum(k * n + n for _, k, n in shapes) + batch * 4 * H)  # matrices, biases, gathered rows
    bandwidth = _copy_bandwidth(np.ones(BIG_COPY_FLOATS, dtype=np.float32), repeat=5)
    cached = _copy_bandwidth(np.ones(weight_bytes // 4, dtype=np.float32), repeat=50)
    a = [torch.randn(m, k, device=device) for m, k, _ in shapes]
    b = [torch.randn(k, n, device=device) for _, k, n in shapes]
    o = [torch.empty(m, n, device=device) for m, _, n in shapes]

    def products() -> None:
        for x, w, y in zip(a, b, o, strict=True):
            torch.mm(x, w, out=y)

    per_step = min(_loop_time(products, STEPS_PER_RUN, device) for _ in range(5))
    memory_floor, compute_floor = weight_bytes / bandwidth, flops / (flops / per_step)
    return {"weight bytes per step": weight_bytes, "FLOPs per step": flops,
            "memory bandwidth GB/s (128 MB copy)": bandwidth / 1e9,
            "cache bandwidth GB/s (copy the size of the weights)": cached / 1e9,
            "matmul throughput GFLOP/s (step shapes)": flops / per_step / 1e9,
            "floor from memory s": memory_floor, "floor from matmul s": compute_floor,
            "floor s": max(memory_floor, compute_floor)}


def _copy_bandwidth(src: np.ndarray, repeat: int) -> float:
    """Bytes moved per second (read + write) by the fastest of ``repeat`` copies."""
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(repeat))
    return 2 * src.nbytes / best


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _loop_time(fn: Callable[[], None], n: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``n`` calls (the device synchronized at both ends)."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / n


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def suite_step(settings: BenchSettings) -> SuiteOutput:
    """The ladder of step implementations, the whole loop per token, the floor, and int8."""
    out = SuiteOutput()
    device = choose_device(settings.device)
    name = step_model_name(settings)
    model = load_model(name, device)
    rungs = ladder(model.network, BATCH, device)
    if settings.compile:
        rungs |= compiled_rungs(model.network, BATCH, device)
    runs = {rung: (lambda fn=fn: _loop_time(fn, STEPS_PER_RUN, device)) for rung, fn in rungs.items()}
    counting = replace(model, family=CountingRnn())
    seed = load_midi(settings.seed)
    params = SampleParams(bars=settings.bars, n_variations=BATCH, random_seed=0, temperature=1.0, top_p=0.95)
    runs["generate(): the whole loop, per token"] = lambda: _whole_loop(counting, seed, params)
    repeat = settings.repeat
    with torch.inference_mode():
        per_step = {rung: [] for rung in runs}
        for _ in range(repeat + 1):  # the first round is the warm-up
            for rung, run in runs.items():
                per_step[rung].append(run())
    times = {rung: t[1:] for rung, t in per_step.items()}
    label = f"{name}, batch {BATCH}"
    for rung, t in times.items():
        out.results.append(result("step", f"{label}: {rung}", t))
    median = {rung: statistics.median(t) for rung, t in times.items()}
    base = median[LADDER[0]]
    for rung in (LADDER[1], LADDER[2], LADDER[3]):
        if rung in median:
            out.checks.append(check("step", f"{rung} vs nn.LSTM per call", base / median[rung], "x"))
    if device.type == "cpu":
        floor = physical_floor(model.network, BATCH, device)
        out.figures |= {f"floor: {k}": v for k, v in floor.items()}
        out.checks.append(check("step", "RnnStepper step as a multiple of the floor",
                                median[LADDER[2]] / floor["floor s"], "x", at_most=FLOOR_TARGET))
        out.checks.append(check("step", "RnnStepper logits (no sampling) as a multiple of the floor",
                                median["RnnStepper, logits only"] / floor["floor s"], "x"))
        out.notes.append(
            f"Floor per step: {floor['weight bytes per step'] / 2**20:.2f} MB of weights at "
            f"{floor['memory bandwidth GB/s (128 MB copy)']:.1f} GB/s = {floor['floor from memory s'] * 1e6:.0f} µs; "
            f"{floor['FLOPs per step'] / 1e6:.2f} MFLOP at "
            f"{floor['matmul throughput GFLOP/s (step shapes)']:.1f} GFLOP/s = "
            f"{floor['floor from matmul s'] * 1e6:.0f} µs (copies the size of the weights: "
            f"{floor['cache bandwidth GB/s (copy the size of the weights)']:.1f} GB/s).")
        out.extend(_int8_check(model, median))
    else:
        out.notes.append("The floor and int8 are measured on the CPU only.")
    return out


def _whole_loop(model: LoadedModel, seed, params: SampleParams) -> float:
    """Seconds of one generate() call per sampling step."""
    family = model.family
    family.steps = 0
    start = time.perf_counter()
    generate(model, seed, params)
    return (time.perf_counter() - start) / max(family.steps, 1)


def _int8_check(model: LoadedModel, median: dict[str, float]) -> SuiteOutput:
    """Does int8 pay (faster than the stepper) and keep the JSB NLL within 1%? Kept only if both."""
    out = SuiteOutput()
    speed = median[LADDER[2]] / median[LADDER[3]]
    out.checks.append(check("step", "int8 nn.LSTM vs RnnStepper (speed)", speed, "x"))
    from .benchmark import JSB_RNN, load_jsb, model_nll

    if any(getattr(model.config, k) != JSB_RNN[k] for k in ("lowest", "n_pitches", "steps_per_beat")):
        out.notes.append("int8: the NLL check needs a model trained on the JSB benchmark; not measured.")
        return out

    test = load_jsb()["test"]
    with torch.inference_mode():
        fp32 = model_nll(model, test)
        int8 = model_nll(replace(model, network=quantized(model.network)), test)
    change = (int8 - fp32) / fp32
    out.figures |= {"JSB test NLL fp32": fp32, "JSB test NLL int8": int8}
    out.checks.append(check("step", "int8: JSB test NLL change (size)", abs(100 * change), "%",
                            at_most=100 * NLL_TOLERANCE))
    kept = speed > 1.0 and abs(change) < NLL_TOLERANCE
    out.notes.append(f"int8: JSB test NLL {fp32:.4f} -> {int8:.4f} ({100 * change:+.2f}%), "
                     f"{speed:.2f}x the stepper's speed: {'kept' if kept else 'not kept'}.")
    return out
