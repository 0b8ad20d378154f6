"""Training as a request: the recipe the CLI and the app share, and a background job for the app.

    request = TrainRequest(family="rnn", corpus="folk", size="small", steps=300)
    result = run_training(request)                    # blocking (the CLI)
    job = TrainingJob(request).start()                # a thread (the app's Train page)
    job.snapshot()                                    # progress, loss history, status
    job.cancel()                                      # saves its state; run again to resume
"""

from __future__ import annotations

import dataclasses
import io
import re
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MusicgenError
from .paths import data_dir, user_models_dir

CorpusProgress = Callable[[int, int], None]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TrainingRequestError(MusicgenError, ValueError):
    """A training setting that cannot work; the message says what to change."""


@dataclass(frozen=True)
class TrainRequest:
    """Everything one training run needs (what the CLI's ``train`` options and the Train page set)."""

    family: str  # model family: "rnn", ...
    corpus: str  # "jsb", "bach", "folk", or a folder / zip of MIDI files
    size: str = "small"  # a size of the family ("debug", "small", "base", ...)
    steps: int = 2000  # optimizer steps
    batch_size: int = 32
    lr: float = 2e-3  # peak learning rate
    eval_every: int = 200  # steps between validations (and checkpoints)
    patience: int = 0  # stop after this many validations without progress (0: never)
    steps_per_beat: int | None = None  # the model's grid (None: the family's)
    limit: int | None = None  # a built-in corpus: only its first N source files
    name: str | None = None  # model name (None: FAMILY-CORPUS-SIZE)
    out: Path | None = None  # model folder (None: the user's models folder / name)
    description: str | None = None  # one line for the model card
    device: str | None = None  # None: the best there is
    fresh: bool = False  # start over instead of resuming a stopped run
    seed: int = 0
    ema: float = 0.0  # 0: off; else the decay of the weights' moving average that is validated and saved
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    distill_from: str | None = None  # an RNN (name or folder) the new one also learns from; same corpus and tokens
    init_from: str | None = None  # a trained model (name or folder) to fine-tune: its family, config and weights
    command: str = ""  # how to reproduce the run, for the model card

    @property
    def model_name(self) -> str:
        return self.name or f"{self.family}-{Path(self.corpus).name}-{self.size}"

    @property
    def out_dir(self) -> Path:
        return self.out or user_models_dir() / self.model_name

    def check(self) -> None:
        """Raise :class:`TrainingRequestError` for settings that cannot work."""
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise TrainingRequestError("Steps, batch size and steps between validations must be at least 1.")
        if not 0.0 <= self.ema < 1.0:
            raise TrainingRequestError("The weight average's decay must be at least 0 and below 1 (e.g. 0.999).")
        if not 0.0 <= self.weight_decay < 1.0:
            raise TrainingRequestError("The weight decay must be at least 0 and below 1 (e.g. 0.01).")
        if not self.lr > 0:
            raise TrainingRequestError("The learning rate must be above 0.")
        if self.init_from and self.distill_from:
            raise TrainingRequestError("Fine-tune a model or learn from one, not both at once: leave out "
                                       "--init-from or --distill-from.")
        check_model_name(self.model_name)


def check_model_name(name: str) -> None:
    """Raise :class:`TrainingRequestError` for a name that cannot name a model (or its files)."""
    if not NAME_PATTERN.match(name):
        raise TrainingRequestError(f"{name!r} cannot name a model: use letters, digits, '-', '_' and '.', "
                                   "at most 64 characters.")


def save_corpus_files(name: str, files: Iterable[tuple[str, bytes]]) -> Path:
    """A user's training files (MIDI, or zips of MIDI; ``(file name, bytes)``) as one zip in the
    data folder's ``corpora``, named after the model: the corpus a :class:`TrainRequest` can name.

    Raises
    ------
    TrainingRequestError
        A name that cannot name a model (and so the file).
    """
    check_model_name(name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file_name, data in files:
            archive.writestr(file_name, data)
    folder = data_dir() / "corpora"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.zip"
    path.write_bytes(buffer.getvalue())
    return path


def run_training(request: TrainRequest, *, progress: Callable[[Any], None] | None = None,
                 corpus_progress: CorpusProgress | None = None, should_stop: Callable[[], bool] | None = None,
                 on_corpus: Callable[[Any], None] | None = None) -> Any:
    """Read the corpus, build the model config and train; returns :class:`musicgen.train.TrainResult`.

    ``on_corpus`` is called with the :class:`musicgen.corpus.Corpus` once it is read
    (the CLI lists the files it skipped).
    """
    from .corpus import BUILTIN, load_corpus, mean_pitch
    from .models.registry import get_family
    from .train import TrainConfig, train

    request.check()
    family = get_family(request.family)
    teacher, base = None, None
    if request.init_from:  # the trained model's config: its size and grid, not the request's
        config, base = _fine_tuning(family, request)
    else:
        config = _new_config(family, request)
    if request.distill_from:
        family, config, teacher = _distilling(family, config, request)
    corpus = load_corpus(request.corpus, progress=corpus_progress, limit=request.limit)
    if on_corpus is not None:
        on_corpus(corpus)
    train_pieces, valid_pieces = corpus.split("train"), corpus.split("valid")
    if getattr(config, "key_normalized", False):
        if request.corpus != "jsb":  # the benchmark's chorales are in C already; any other music is moved there
            from .models.base import to_home_key

            train_pieces, valid_pieces = [to_home_key(s) for s in train_pieces], [to_home_key(s) for s in valid_pieces]
        if teacher is None and hasattr(config, "register"):  # where an RNN moves seeds: the training music's
            # register (a student: its teacher's; a GAN moves them by octaves into its window instead)
            config = dataclasses.replace(config, register=round(mean_pitch(train_pieces), 2))
    cfg = TrainConfig(steps=request.steps, batch_size=request.batch_size, lr=request.lr,
                      eval_every=request.eval_every, patience=request.patience,
                      checkpoint_every=request.eval_every, seed=request.seed, ema=request.ema,
                      weight_decay=request.weight_decay)
    card = {"description": request.description or f"{family.name.upper()} trained on {corpus.name}",
            "corpus": corpus.name + (f" (first {request.limit} source files)" if request.limit else ""),
            # what evaluation, the copy check and the listening test read again: the name or path as given
            "corpus_source": request.corpus if request.corpus in BUILTIN else str(Path(request.corpus).resolve()),
            "corpus_limit": request.limit,
            "pieces": {s: len(corpus.split(s)) for s in ("train", "valid", "test")},
            "size": base.size if base is not None else request.size,
            "command": request.command, **({"distilled_from": teacher.name} if teacher is not None else {}),
            **({"fine_tuned_from": base.name} if base is not None else {})}
    return train(family, config, train_pieces, valid_pieces, request.out_dir, cfg,
                 device=request.device, progress=progress, should_stop=should_stop, resume=not request.fresh,
                 card=card, initial=base.weights if base is not None else None)


def _new_config(family: Any, request: TrainRequest) -> Any:
    """The config of a new model: the request's size and grid (the JSB benchmark's frames for an RNN on it)."""
    overrides: dict[str, Any] = {}
    if request.corpus == "jsb" and family.name == "rnn":
        from .benchmark import JSB_RNN

        overrides.update(JSB_RNN)  # quarter-note frames, 88 keys, the benchmark's masks
    if request.steps_per_beat:
        overrides["steps_per_beat"] = request.steps_per_beat
    try:
        return family.make_config(request.size, **overrides)
    except (ValueError, TypeError) as exc:
        raise TrainingRequestError(str(exc)) from exc


@dataclass(frozen=True)
class BaseModel:
    """The trained model a fine-tuning run starts from."""

    name: str
    weights: dict[str, Any]  # its state dict
    size: str  # the size it was trained at (its card's)


def _fine_tuning(family: Any, request: TrainRequest) -> tuple[Any, BaseModel]:
    """The config of the model to fine-tune (its size and grid are kept) and its weights.

    Raises
    ------
    TrainingRequestError
        No such model, a damaged one, one of another family than the request's, or the request's own folder.
    """
    from .checkpoint import load_model_files
    from .models.registry import resolve_model

    try:
        folder = resolve_model(request.init_from)
        family_name, config_dict, weights, card = load_model_files(folder)
    except MusicgenError as exc:
        raise TrainingRequestError(f"The model to fine-tune cannot be loaded: {exc}") from exc
    if folder.resolve() == request.out_dir.resolve():
        raise TrainingRequestError(f"Give the fine-tuned model a name of its own: {folder.name} is the model it "
                                   "starts from, and stays as it is.")
    if family_name != family.name:
        raise TrainingRequestError(f"{folder.name} is {_kind(family_name)}: fine-tune it as one "
                                   f"(--model {family_name}), not as {_kind(family.name)}.")
    try:
        config = family.config_from_dict(config_dict)
    except (TypeError, ValueError) as exc:
        raise TrainingRequestError(f"The model to fine-tune cannot be loaded: {exc}") from exc
    return config, BaseModel(folder.name, weights, str(card.get("size", "")))


def _distilling(family: Any, config: Any, request: TrainRequest) -> tuple[Any, Any, Any]:
    """The distilling family, the student's config (the teacher's tokens, the size's network)
    and the teacher (:class:`musicgen.generate.LoadedModel`)."""
    from .generate import load_model
    from .models.distill import DistillingRnnFamily

    if family.name != "rnn":
        raise TrainingRequestError("Only an RNN can learn from another model: use --model rnn.")
    try:
        teacher = load_model(request.distill_from, request.device)
    except MusicgenError as exc:
        raise TrainingRequestError(f"The model to learn from cannot be loaded: {exc}") from exc
    if teacher.family.name != "rnn":
        raise TrainingRequestError(f"{teacher.name} is a {teacher.family.name.upper()}; an RNN learns from an RNN.")
    network = {k: getattr(config, k) for k in ("embed", "hidden", "layers", "dropout", "weight_drop")}
    return DistillingRnnFamily(teacher.network), dataclasses.replace(teacher.config, **network), teacher


def _kind(family: str) -> str:
    """``"an RNN"``, ``"a GAN"``: a family with its article."""
    return f"{'an' if family.upper()[0] in 'AEFHILMNORSX' else 'a'} {family.upper()}"


@dataclass(frozen=True)
class JobSnapshot:
    """What a training job has done so far (a copy: safe to read while the job runs)."""

    phase: str  # "reading", "training", "finished", "early-stopped", "cancelled", "failed"
    step: int
    total: int
    corpus_done: int
    corpus_total: int
    history: tuple[dict[str, float], ...]  # one row per validation: step, train_loss, val_loss
    train_loss: float | None
    elapsed_s: float
    error: str | None
    model_name: str

    @property
    def running(self) -> bool:
        return self.phase in ("reading", "training")


_RUNNING: set[str] = set()  # model names being trained by a TrainingJob in this process
_RUNNING_LOCK = threading.Lock()


def claim_model_name(name: str, owned: Iterable[str] = ()) -> None:
    """Check that an app user may train ``name``: every user of a server shares its models, so
    nobody may overwrite or resume a model someone else made. ``owned``: the names this user
    trained before (they may go on with them).

    Raises
    ------
    TrainingRequestError
        For the name of a shipped model, of another user's model, or of a model in training.
    """
    from .models.registry import list_models

    check_model_name(name)
    with _RUNNING_LOCK:
        busy = name in _RUNNING
    if busy:
        raise TrainingRequestError(f"A model named {name!r} is being trained right now: pick another name.")
    for entry in list_models():
        if entry.name == name and (entry.shipped or name not in set(owned)):
            whose = "a model that ships with musicgen studio" if entry.shipped else "someone's model on this server"
            raise TrainingRequestError(f"{name!r} is {whose}: pick another name for yours.")


@dataclass
class TrainingJob:
    """One training run in a background thread, with progress a page can poll and a cancel button."""

    request: TrainRequest
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _phase: str = "reading"
    _step: int = 0
    _corpus: tuple[int, int] = (0, 0)
    _history: list[dict[str, float]] = field(default_factory=list)
    _train_loss: float | None = None
    _error: str | None = None
    _t0: float = field(default_factory=time.time)

    def start(self) -> TrainingJob:
        """Start the run in the background; the name is held until it ends (see :func:`claim_model_name`)."""
        self.request.check()
        with _RUNNING_LOCK:
            _RUNNING.add(self.request.model_name)
        self._thread = threading.Thread(target=self._run, name=f"train-{self.request.model_name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop; it saves its state first (a later run with the same name resumes)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(self._phase, self._step, self.request.steps, *self._corpus, tuple(self._history),
                               self._train_loss, time.time() - self._t0, self._error, self.request.model_name)

    def _on_corpus_progress(self, done: int, total: int) -> None:
        with self._lock:
            self._corpus = (done, total)

    def _on_progress(self, p: Any) -> None:
        with self._lock:
            self._phase, self._step, self._train_loss = "training", p.step, p.train_loss
            validated = p.step % self.request.eval_every == 0 or p.step == p.total
            if validated and p.val_loss is not None:
                self._history.append({"step": p.step, "train_loss": p.train_loss, "val_loss": p.val_loss})

    def _run(self) -> None:
        try:
            result = run_training(self.request, progress=self._on_progress, corpus_progress=self._on_corpus_progress,
                                  should_stop=self._stop.is_set)
            phase, error = result.status, None
        except MusicgenError as exc:
            phase, error = "failed", str(exc)
        except Exception as exc:  # a bug must not kill the page silently: keep it for the log and the user
            traceback.print_exc()
            phase, error = "failed", f"Training stopped with an unexpected error ({type(exc).__name__}: {exc})."
        with self._lock:
            self._phase, self._error = phase, error
        with _RUNNING_LOCK:
            _RUNNING.discard(self.request.model_name)
