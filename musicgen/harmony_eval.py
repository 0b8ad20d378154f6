"""How well a model harmonizes Bach: the held-out JSB chorales' sopranos, against Bach's own voices.

``python -m musicgen evaluate --benchmark harmonize`` takes the soprano (the top
note of every quarter-note frame) of each JSB test chorale, harmonizes it with the
public :func:`musicgen.harmonize.harmonize`, and compares the three voices written
under it with Bach's alto, tenor and bass, frame by frame, beside two baselines
that get the same soprano: chance (random notes in the voices' ranges) and a rule
(the key's tonic, dominant or subdominant triad that holds the soprano note, root
in the bass). Figures (all frames where the soprano sounds):

- notes as Bach's: of Bach's pitches under the soprano, the share also in the
  generated frame (each method writes three, Bach three in 90% of frames);
- pitch classes as Bach's: the same for pitch classes (the chord, whatever the voicing);
- bass as Bach's: the lowest notes are the same pitch;
- frames as Bach's: all three voices the same pitches;
- parallel fifths and octaves per 100 frame changes: two voices a perfect fifth
  (or octave) apart, modulo octaves, both moving the same way into the same interval,
  counted over all six pairs of voices between consecutive four-voice frames;
- voices in range: the alto, tenor and bass notes (the 2nd, 3rd and 4th highest in
  four-voice frames) inside ``harmonize.VOICE_RANGES``, in concert pitch (the JSB
  data are an octave up and in C major or A minor, so Bach's own voices sit a few
  semitones off their original registers).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .benchmark import JSB_PATH, load_jsb
from .constraints import assemble, voice_floors
from .harmonize import (
    LOWER_VOICES,
    VOICE_RANGES,
    MelodyError,
    check_melody,
    harmonize,
    harmonize_plan,
    voice_tracks,
)
from .sampling import SampleParams
from .score import Key, Note, Score, Track

JSB_OCTAVE = 12  # the JSB data sit an octave above concert pitch
Frames = list[list[int]]  # per frame, the pitches under the soprano (highest first)


def soprano(chorale: Score) -> Score:
    """The top note of every frame as a one-voice melody in concert pitch (runs of a pitch are one note)."""
    roll = chorale.piano_roll()
    tops = [int(np.flatnonzero(f).max()) if f.any() else -1 for f in roll]
    notes, start = [], 0
    for t in range(1, len(tops) + 1):
        if t == len(tops) or tops[t] != tops[start]:
            if tops[start] >= 0:
                notes.append(Note(start, tops[start] - JSB_OCTAVE, t - start))
            start = t
    return Score(tuple(notes), (Track("Soprano", 52),), bpm=80, steps_per_beat=1, length=len(tops))


def lower_frames(roll: np.ndarray, melody: Score) -> Frames:
    """Per frame, the pitches of ``roll`` ``(T, 128)`` below the melody's note (concert pitch)."""
    top = melody.piano_roll()
    frames = []
    for t in range(len(top)):
        sounding = np.flatnonzero(top[t])
        frames.append([int(p) for p in np.flatnonzero(roll[t])[::-1] if len(sounding) and p < sounding[0]])
    return frames


def melody_pitches(melody: Score) -> list[int | None]:
    """The melody's pitch at every step (None in rests)."""
    top: list[int | None] = [None] * melody.length
    for n in melody.notes:
        top[n.start:n.end] = [n.pitch] * n.duration
    return top


@dataclass
class Tally:
    """Running counts for one harmonizer."""

    bach_notes: int = 0
    notes: int = 0
    bach_classes: int = 0
    classes: int = 0
    frames: int = 0
    exact: int = 0
    bass: int = 0
    changes: int = 0
    parallels: int = 0
    voice_notes: int = 0
    in_range: int = 0
    pieces: set[int] = field(default_factory=set)

    def add(self, melody: Score, mine: Frames, bach: Frames) -> None:
        top = melody_pitches(melody)
        for t, (ours, theirs) in enumerate(zip(mine, bach, strict=True)):
            if top[t] is None or not theirs:
                continue
            self.frames += 1
            self.bach_notes += len(theirs)
            self.notes += len(set(ours) & set(theirs))
            bach_pcs = {p % 12 for p in theirs}
            self.bach_classes += len(bach_pcs)
            self.classes += len({p % 12 for p in ours} & bach_pcs)
            self.exact += sorted(ours) == sorted(theirs)
            self.bass += bool(ours) and min(ours) == min(theirs)
        self.count_voices(top, mine)

    def count_voices(self, top: list[int | None], mine: Frames) -> None:
        full = [[top[t], *mine[t]] if top[t] is not None and len(mine[t]) == 3 else None for t in range(len(top))]
        for chord in full:
            if chord is not None:
                for pitch, name in zip(chord[1:], LOWER_VOICES, strict=True):
                    low, high = VOICE_RANGES[name]
                    self.voice_notes += 1
                    self.in_range += low <= pitch <= high
        for before, after in itertools.pairwise(full):
            if before is None or after is None:
                continue
            self.changes += 1
            self.parallels += parallel_perfects(before, after)

    def row(self, name: str) -> dict[str, object]:
        share = lambda a, b: a / b if b else float("nan")  # noqa: E731
        return {"harmonizer": name, "notes": share(self.notes, self.bach_notes),
                "pitch_classes": share(self.classes, self.bach_classes), "bass": share(self.bass, self.frames),
                "frames": share(self.exact, self.frames),
                "parallels_per_100": 100 * share(self.parallels, self.changes),
                "in_range": share(self.in_range, self.voice_notes), "frames_compared": self.frames}


def parallel_perfects(before: list[int], after: list[int]) -> int:
    """Pairs of voices moving the same way from a perfect fifth or octave into the same interval."""
    count = 0
    for i in range(len(before)):
        for j in range(i + 1, len(before)):
            a, b = before[i] - before[j], after[i] - after[j]
            moves = after[i] - before[i], after[j] - before[j]
            if moves[0] and moves[1] and (moves[0] > 0) == (moves[1] > 0) and a % 12 == b % 12 and a % 12 in (0, 7):
                count += 1
    return count


# ----------------------------------------------------------------- baselines
def chance_frames(melody: Score, rng: np.random.Generator) -> Frames:
    """Three random notes under each melody note: each voice uniform over what its range
    allows below the voice above, leaving room for the voices under it."""
    ranges = [VOICE_RANGES[v] for v in LOWER_VOICES]
    floors = voice_floors(ranges)
    frames = []
    for above in melody_pitches(melody):
        chord = []
        if above is not None:
            for floor, (_, high) in zip(floors, ranges, strict=True):
                top = min(high, above - 1)
                above = int(rng.integers(floor, top + 1)) if top >= floor else floor
                chord.append(above)
        frames.append(chord)
    return frames


def triad_frames(melody: Score) -> Frames:
    """The rule baseline: the tonic, dominant or subdominant triad (in that order of preference)
    of the melody's key that holds the melody note, else any diatonic triad that does, else the
    major triad on it; alto and tenor on the nearest chord notes below, the root in the bass,
    nearest the bass before."""
    key = melody.estimate_key()
    frames, bass = [], 50
    for above in melody_pitches(melody):
        if above is None:
            frames.append([])
            continue
        root, chord = _chord_for(above % 12, key)
        voices = []
        for name in LOWER_VOICES[:2]:
            low, high = VOICE_RANGES[name]
            used = {above % 12, *(v % 12 for v in voices)}
            options = [p for p in range(min(high, above - 1), low - 1, -1) if p % 12 in chord]
            fresh = [p for p in options if p % 12 not in used]
            above = (fresh or options or [low])[0]
            voices.append(above)
        low, high = VOICE_RANGES["Bass"]
        roots = [p for p in range(low, min(high, above - 1) + 1) if p % 12 == root] or [low]
        bass = min(roots, key=lambda p: abs(p - bass))
        frames.append([*voices, bass])
    return frames


def _chord_for(pc: int, key: Key) -> tuple[int, set[int]]:
    """``(root, pitch classes)`` of the triad chosen for a melody pitch class."""
    steps = (0, 2, 4, 5, 7, 9, 11) if key.mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    scale = [(key.tonic + s) % 12 for s in steps]
    if key.mode == "minor":
        scale[6] = (key.tonic + 11) % 12  # the leading note, as in a minor key's dominant
    triads = [(scale[d], {scale[d], scale[(d + 2) % 7], scale[(d + 4) % 7]}) for d in (0, 4, 3, 1, 5, 2, 6)]
    for root, chord in triads:
        if pc in chord:
            return root, chord
    return pc, {pc, (pc + 4) % 12, (pc + 7) % 12}


# ----------------------------------------------------------------- the table
def data_ranges(chorales: list[Score]) -> tuple[tuple[int, int], ...]:
    """Alto, tenor and bass ranges (concert pitch, 0.5th to 99.5th percentile) of the 2nd, 3rd and
    4th highest notes of four-note frames of JSB chorales: the registers the JSB data put them in."""
    ranks: list[list[int]] = [[], [], []]
    for chorale in chorales:
        for frame in chorale.piano_roll():
            pitches = np.flatnonzero(frame)[::-1]
            if len(pitches) == 4:
                for k in range(3):
                    ranks[k].append(int(pitches[k + 1]) - JSB_OCTAVE)
    return tuple((int(np.percentile(r, 0.5)), int(np.percentile(r, 99.5))) for r in ranks)


def harmonize_table(models: list[object], path: str | Path = JSB_PATH, variations: int = 2,
                    temperatures: tuple[float, ...] = (1.0, 0.5, 0.0), limit: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[dict[str, object]]:
    """Rows of the table: Bach, each model (``generate.LoadedModel``) at each temperature, the rule, chance.

    A GAN has no temperature: its rows take the same values as its noise (0: one take
    from the latents the melody inverts to).

    At temperature 0 (the likeliest note every time) one take per chorale, else
    ``variations`` takes, all counted. A chorale whose soprano lies outside what
    :func:`harmonize.check_melody` accepts is left out (the JSB data moved every chorale
    to C major or C minor, which takes a few sopranos out of a soprano's range). One
    more row per model, at temperature 0.5, gives the voices the ranges they have in
    the JSB data (:func:`data_ranges`) instead of a choir's: the data's transposition
    to C moved whole chorales up to six semitones from the registers Bach wrote in.
    """
    rng = np.random.default_rng(0)
    data = load_jsb(path)
    wide = data_ranges(data["train"])

    def knob(model: object) -> str:
        """What a model's settings row varies: a GAN's noise (it has no temperature), else the temperature."""
        return "noise" if model.family.name == "gan" else "temperature"

    def model_takes(model: object, temperature: float, voices: tuple[tuple[int, int], ...] | None = None,
                    ) -> Callable[[Score, int], list[Frames]]:
        def run(melody: Score, index: int) -> list[Frames]:
            params = SampleParams(n_variations=variations if temperature > 0 else 1, random_seed=index,
                                  **{knob(model): temperature})
            if voices is None:
                takes = harmonize(model, melody, params)
            else:
                plan = replace(harmonize_plan(melody), voices=voices)
                sampled = model.family.sample_constrained(model.network, model.config, plan, params, model.device)
                takes = [assemble(plan, new, [(1 + k, float(np.mean(r))) for k, r in enumerate(voices)],
                                  voice_tracks(melody)) for new in sampled]
            return [lower_frames(take.piano_roll(tracks=[1, 2, 3]), melody) for take in takes]
        return run

    harmonizers: list[tuple[str, Callable[[Score, int], list[Frames]]]] = []
    for model in models:
        for temperature in temperatures:
            takes = f" ({variations} takes each)" if temperature > 0 and variations > 1 else ""
            harmonizers.append((f"{model.name}, {knob(model)} {temperature:g}{takes}", model_takes(model, temperature)))
        harmonizers.append((f"{model.name}, {knob(model)} 0.5, the JSB data's voice ranges",
                            model_takes(model, 0.5, wide)))
    harmonizers.append(("Rule: I/V/IV triad holding the soprano, root in the bass",
                        lambda melody, _: [triad_frames(melody)]))
    harmonizers.append(("Chance: random notes in the voices' ranges", lambda melody, _: [chance_frames(melody, rng)]))
    bach_name = "Bach (the chorales themselves)"
    tallies = {name: Tally() for name in [bach_name, *(name for name, _ in harmonizers)]}
    chorales = data["test"][:limit]
    used = 0
    for i, chorale in enumerate(chorales):
        melody = soprano(chorale)
        try:
            check_melody(melody)
        except MelodyError:
            continue
        used += 1
        bach = lower_frames(chorale.transpose(-JSB_OCTAVE).piano_roll(), melody)
        tallies[bach_name].count_voices(melody_pitches(melody), bach)
        for name, run in harmonizers:
            for frames in run(melody, i):
                tallies[name].add(melody, frames, bach)
        if progress:
            progress(i + 1, len(chorales))
    return [{**tally.row(name), "chorales": used, "of": len(chorales)} for name, tally in tallies.items()]


def format_harmonize_table(rows: list[dict[str, object]]) -> str:
    """A Markdown table."""
    pct = lambda x: "" if x != x else f"{100 * x:.1f}%"  # noqa: E731
    lines = ["| harmonizer | notes as Bach's | pitch classes as Bach's | bass as Bach's | frames as Bach's "
             "| parallel 5ths/8ves per 100 | voices in range |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        bach = r["harmonizer"].startswith("Bach")
        cells = ["100%"] * 4 if bach else [pct(r[k]) for k in ("notes", "pitch_classes", "bass", "frames")]
        lines.append(f"| {r['harmonizer']} | {' | '.join(cells)} | {r['parallels_per_100']:.2f} "
                     f"| {pct(r['in_range'])} |")
    return "\n".join(lines)


def write_json(rows: list[dict[str, object]], path: Path) -> None:
    """The rows as JSON (NaN as null)."""
    clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]
    path.write_text(json.dumps(clean, indent=2) + "\n")
