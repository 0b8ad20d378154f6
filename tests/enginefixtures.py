"""A tiny corpus and a tiny trained RNN, made once per test session."""

from __future__ import annotations

from pathlib import Path

from musicgen.corpus import Corpus, Piece
from musicgen.midi import load_midi
from musicgen.models.registry import get_family
from musicgen.score import Score, Track
from musicgen.train import TrainConfig, train

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"

# A C major cadence in four voices, sixteenth-note steps: (pitch, velocity, start, end).
CADENCE = [(72, 80, 0, 8), (67, 80, 0, 8), (64, 80, 0, 8), (48, 80, 0, 8),
           (71, 80, 8, 16), (67, 80, 8, 16), (62, 80, 8, 16), (55, 80, 8, 16),
           (72, 80, 16, 32), (67, 80, 16, 32), (64, 80, 16, 32), (48, 80, 16, 32)]


def tiny_corpus() -> Corpus:
    """The bundled examples, a cadence and scales: enough music for a debug model."""
    pieces = [Piece(p.name, load_midi(p)) for p in sorted(EXAMPLES.glob("*.mid"))]
    pieces.append(Piece("cadence", Score.from_tuples(CADENCE, tracks=(Track("Choir", 52),))))
    for k, root in enumerate((60, 62, 65, 67, 57)):
        scale = [root + s for s in (0, 2, 4, 5, 7, 9, 11, 12)]
        pieces.append(Piece(f"scale-{k}", Score.from_tuples([(p, 80, 4 * i, 4 * i + 4) for i, p in enumerate(scale)])))
    return Corpus("tiny", pieces)


def train_debug_rnn(out: Path, steps: int = 80, **train_kwargs) -> tuple[Corpus, object]:
    corpus = tiny_corpus()
    family = get_family("rnn")
    config = family.make_config("debug", steps_per_beat=4, steps_per_bar=16)
    result = train(family, config, corpus.split("train"), corpus.split("valid"), out,
                   TrainConfig(steps=steps, batch_size=8, eval_every=20, checkpoint_every=20, warmup=10, lr=1e-2),
                   device="cpu", card={"corpus": "tiny"}, **train_kwargs)
    return corpus, result


def train_debug_gan(out: Path, eval_every: int = 50, **config_overrides) -> object:
    """A debug-size GAN trained for 100 steps on the tiny corpus (the checkpoint with the best
    validation loss, judged every ``eval_every`` steps), loaded on the CPU."""
    from musicgen.generate import load_model

    corpus = tiny_corpus()
    family = get_family("gan")
    train(family, family.make_config("debug", **config_overrides), corpus.split("train"), corpus.split("valid"), out,
          TrainConfig(steps=100, batch_size=16, eval_every=eval_every, checkpoint_every=eval_every, warmup=5,
                      lr=3e-3), device="cpu", card={"corpus": "tiny"})
    return load_model(out, device="cpu")
