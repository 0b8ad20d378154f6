"""The checkpoints shipped in assets/models load on the CPU and continue a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicgen.generate import generate, load_model
from musicgen.midi import load_midi
from musicgen.sampling import SampleParams

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["rnn-jsb", "rnn-folk"]
SEEDS = {"rnn-jsb": "bach-chorale-bwv66.6-opening.mid", "rnn-folk": "reel-7th-regiment.mid"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_has_a_card_and_is_small(name: str) -> None:
    folder = ROOT / "assets" / "models" / name
    card = json.loads((folder / "card.json").read_text())
    assert card["family"] == "rnn" and card["steps"] > 0 and card["command"].startswith("python -m musicgen train")
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20
    assert not (folder / "train_state.pt").exists()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_continues_a_seed_on_the_cpu(name: str) -> None:
    model = load_model(name, device="cpu")
    seed = load_midi(ROOT / "assets" / "examples" / SEEDS[name])
    takes = generate(model, seed, SampleParams(bars=2, n_variations=2, random_seed=0))
    for take in takes:
        new = [n for n in take.notes if n.track == len(seed.tracks)]
        assert new, "the continuation has notes"
        assert all(n.start >= seed.padded_to_bar().length for n in new)


def test_every_shipped_model_has_its_copy_index_ready_without_reading_its_corpus() -> None:
    from musicgen.originality import copy_guard_ready, copy_index_key, ready_copy_index

    for name in ("rnn-jsb", "rnn-folk", "gan-bach", "gan-folk"):
        index = ready_copy_index(name)
        assert index is not None and len(index) > 100, name
        assert copy_guard_ready(name)
        assert (ROOT / "assets" / "copy-index" / f"copy-index-v1-{copy_index_key(name)}.npz").is_file()


def test_the_shipped_chorale_index_is_what_the_corpus_gives_now() -> None:
    """`make copy-indexes` wrote it; a change to the corpus reader changes its key (so it is not used)
    or, if not, must leave the index as it was."""
    from musicgen.modelcorpus import corpus_spec, load_spec
    from musicgen.originality import CopyIndex, ready_copy_index

    loaded = load_spec(corpus_spec({"corpus": "jsb"}))
    train = {id(s) for s in loaded.split("train")}
    fresh = CopyIndex.build([(p.name, p.score) for p in loaded.pieces if id(p.score) in train])
    shipped = ready_copy_index("rnn-jsb")
    assert shipped is not None and shipped.names == fresh.names and shipped.vocab == fresh.vocab
    assert (shipped.seq == fresh.seq).all()
