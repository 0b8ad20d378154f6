"""A Score in words: the facts a musician checks first."""

from __future__ import annotations

from .score import Score, pitch_name


def describe(score: Score) -> list[tuple[str, str]]:
    """Readable facts about a score: ``(label, value)`` rows."""
    num, den = score.time_signature
    pitched = [n.pitch for n in score.notes if not score.tracks[n.track].is_drum]
    track_lines = []
    for i, t in enumerate(score.tracks):
        count = sum(1 for n in score.notes if n.track == i)
        kind = "drums" if t.is_drum else f"program {t.program}"
        track_lines.append(f"{i}: {t.name or 'untitled'} ({kind}, {count} notes)")
    rows = [
        ("tracks", str(len(score.tracks))),
        *(("", line) for line in track_lines),
        ("notes", str(len(score.notes))),
        ("duration", f"{score.duration_seconds:.1f} s, {score.n_bars} bars"),
        ("tempo", f"{score.bpm:g} BPM"),
        ("meter", f"{num}/{den}"),
    ]
    if pitched:
        key = score.estimate_key()
        rows.append(("key", f"{key.name} (fit {key.correlation:.2f})"))
        rows.append(("range", f"{pitch_name(min(pitched))} to {pitch_name(max(pitched))}"))
    else:
        rows.append(("key", "none (drums only)"))
    return rows
