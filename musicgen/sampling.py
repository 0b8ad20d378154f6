"""Per-call generation settings, the device choice, and sampling helpers.

The device is resolved here and nowhere else: an explicit choice, else
``MUSICGEN_DEVICE``, else CUDA, then Apple MPS, then the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import MusicgenError
from .score import PITCH_CLASS_NAMES, Key, Score


class SampleParamsError(MusicgenError, ValueError):
    """A generation setting out of range; the message gives the range."""


class DeviceError(MusicgenError):
    """The requested device is not there; the message says what to use instead."""


MAX_BARS, MAX_VARIATIONS, MAX_TEMPERATURE = 32, 8, 2.0


@dataclass(frozen=True)
class SampleParams:
    """Settings for one generation call (nothing is kept between calls)."""

    bars: int = 8  # bars to add after the seed, 1..32
    temperature: float = 1.0  # 0 = always the likeliest; 2 = adventurous (RNN)
    top_p: float = 1.0  # nucleus sampling: keep the likeliest tokens holding this much probability (RNN).
    # The app's default too: on rnn-jsb's validation chorales 0.95 was no harder to tell from
    # Bach (two-sample 65.2% against 64.6%) and copied 2+ bars half as often again (30% against 19%)
    noise: float = 0.5  # how far variations stray: 0 = nearest the seed / most typical (GAN)
    n_variations: int = 4  # generated as one batch, 1..8
    random_seed: int = 0  # the same seed and settings give the same music
    key_lock: str | None = None  # None: free; "auto": the seed's key; or a key name such as "D minor"
    max_polyphony: int | None = None  # most notes sounding at once (None: as the model likes)
    threshold: float | None = None  # density (GAN): a pitch sounds where the model's output exceeds this,
    # 0.05..0.95, lower gives more notes (None: the model's own)
    avoid_copies: bool = False  # draw again the takes that copy 2+ bars of the training music (musicgen.copyguard)

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.bars <= MAX_BARS, f"Bars to add must be between 1 and {MAX_BARS}."),
            (0.0 <= self.temperature <= MAX_TEMPERATURE, f"Temperature must be between 0 and {MAX_TEMPERATURE:g}."),
            (0.0 < self.top_p <= 1.0, "Top-p must be above 0 and at most 1."),
            (0.0 <= self.noise <= 2.0, "Noise must be between 0 and 2."),
            (1 <= self.n_variations <= MAX_VARIATIONS, f"Variations must be between 1 and {MAX_VARIATIONS}."),
            (self.max_polyphony is None or 1 <= self.max_polyphony <= 16, "Max polyphony must be 1 to 16 notes."),
            (self.threshold is None or 0.05 <= self.threshold <= 0.95, "Threshold must be between 0.05 and 0.95."),
        ]
        for ok, message in checks:
            if not ok:
                raise SampleParamsError(message)
        if self.key_lock not in (None, "auto"):
            parse_key(self.key_lock)


def density_threshold(model_threshold: float, density: float) -> float:
    """A GAN's threshold for the app's Density control (0.5 to 0.8): 0.5 is the model's own
    threshold, and each step up lowers it as much, so more of the likely notes sound."""
    return round(min(0.95, max(0.05, model_threshold - (density - 0.5))), 2)


def parse_key(name: str) -> Key:
    """``"D minor"``, ``"Eb major"``, ``"f# minor"`` -> :class:`Key`."""
    parts = name.strip().split()
    if len(parts) == 2 and parts[1].lower() in ("major", "minor"):
        tonic = parts[0][:1].upper() + parts[0][1:].lower()
        aliases = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "Fb": "E", "E#": "F"}
        tonic = aliases.get(tonic, tonic)
        if tonic in PITCH_CLASS_NAMES:
            return Key(PITCH_CLASS_NAMES.index(tonic), parts[1].lower(), 1.0)
    raise SampleParamsError(f"Unknown key {name!r}; write it like \"D minor\" or \"Eb major\".")


def locked_scale(params: SampleParams, seed: Score | None) -> frozenset[int] | None:
    """The pitch classes allowed by the key lock, or None when there is no lock."""
    if params.key_lock is None:
        return None
    if params.key_lock == "auto":
        if seed is None or not seed.has_pitched_notes:
            raise SampleParamsError("Key lock \"auto\" takes the seed's key, so it needs a seed with notes.")
        return seed.estimate_key().scale
    return parse_key(params.key_lock).scale


def choose_device(requested: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``requested``, else ``MUSICGEN_DEVICE``, else the best there is.

    Raises
    ------
    DeviceError
        When a device is asked for by name and is not available.
    """
    name = str(requested or os.environ.get("MUSICGEN_DEVICE") or "").strip().lower()
    if not name or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("No CUDA GPU is available here. Use --device cpu (or unset MUSICGEN_DEVICE).")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("Apple's MPS is not available here. Use --device cpu (or unset MUSICGEN_DEVICE).")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"Unknown device {name!r}: use cpu, cuda or mps.") from exc


def describe_device(device: torch.device) -> str:
    """``"NVIDIA H200 (cuda)"``, ``"Apple GPU (mps)"`` or ``"CPU (8 threads)"``."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    if device.type == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({torch.get_num_threads()} threads)"


def sample_logits(logits: torch.Tensor, temperature: float, top_p: float,
                  generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of ``logits`` ``(B, V)`` (masked entries at -inf)."""
    if temperature <= 1e-6:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        keep = sorted_probs.cumsum(dim=-1) - sorted_probs < top_p  # always keeps the first
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
