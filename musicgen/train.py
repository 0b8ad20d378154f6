"""The one training loop, shared by every model family.

The family supplies its network, examples and loss (``models/base.py``); this loop
supplies the rest: device, mixed precision on GPU, gradient clipping, warm-up and
cosine learning rate, validation, early stopping, a CSV/JSON log, atomic
checkpoints with resume, a progress callback (the CLI's tqdm bar, the app's
progress bar) and cancellation. Under ``torchrun`` it runs data-parallel
(DistributedDataParallel; gloo on CPU, nccl on GPU); rank 0 writes the files.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from .checkpoint import TRAIN_STATE, atomic_write, load_train_state, save_model, save_train_state
from .errors import MusicgenError
from .models.base import ModelFamily
from .sampling import choose_device, describe_device
from .score import Score


class TrainingError(MusicgenError):
    """Training cannot start; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train (stored in the model card)."""

    steps: int = 2000  # optimizer steps
    batch_size: int = 32  # examples per step (per process under torchrun)
    lr: float = 2e-3  # peak learning rate (Adam)
    weight_decay: float = 0.0
    warmup: int = 100  # steps of linear warm-up, then cosine decay to lr/20
    grad_clip: float = 1.0  # max gradient norm
    eval_every: int = 200  # steps between validations
    patience: int = 0  # stop after this many validations without improvement (0: never)
    checkpoint_every: int = 200  # steps between resumable training states
    seed: int = 0
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16)
    ema: float = 0.0  # 0: off; else the decay of an exponential moving average of the weights (e.g. 0.999),
    # which is what gets validated and saved: it smooths out the noise of small batches


@dataclass(frozen=True)
class Progress:
    """What the progress callback is told after each step."""

    step: int
    total: int
    train_loss: float
    val_loss: float | None  # the latest validation, if any
    best_val: float | None
    lr: float
    elapsed_s: float


@dataclass
class TrainResult:
    """How a run ended."""

    status: str  # "finished", "early-stopped" or "cancelled"
    steps: int
    best_val: float | None
    out_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)
    network: torch.nn.Module | None = None  # the weights as training left them (not the best)


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)``, starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return torch.distributed.get_rank(), world


def evaluate(family: ModelFamily, model: torch.nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Mean loss over a validation loader."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            loss, _ = family.loss(model, batch, device)
            total += float(loss) * len(batch[0])
            count += len(batch[0])
    model.train()
    return total / max(1, count)


def train(family: ModelFamily, model_config: Any, train_scores: list[Score], valid_scores: list[Score],
          out_dir: str | os.PathLike[str], cfg: TrainConfig | None = None, *, device: str | None = None,
          progress: Callable[[Progress], None] | None = None, should_stop: Callable[[], bool] | None = None,
          resume: bool = True, card: dict[str, Any] | None = None,
          initial: dict[str, torch.Tensor] | None = None) -> TrainResult:
    """Train a model of ``family`` and save the best one (by validation loss) in ``out_dir``.

    With ``initial`` (a trained model's weights, for ``model_config``) the run fine-tunes
    them: they are validated and saved first, so the model saved is never worse on this
    validation music than the one it started from.

    ``should_stop`` is polled every step: when it returns True the run saves its
    state and ends with status ``"cancelled"``; run again with ``resume`` to go on.
    """
    cfg = cfg or TrainConfig()
    out = Path(out_dir)
    rank, world = _distributed()
    dev = choose_device(device)
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.manual_seed(cfg.seed)
    train_ds = family.dataset(train_scores, model_config, train=True)
    valid_ds = family.dataset(valid_scores, model_config, train=False)
    if len(train_ds) == 0 or len(valid_ds) == 0:
        raise TrainingError("There is not enough music to train on: use a larger corpus "
                            f"({len(train_scores)} training and {len(valid_scores)} validation pieces).")
    net = family.build(model_config)
    if initial is not None:
        try:
            net.load_state_dict(initial)
        except RuntimeError as exc:
            raise TrainingError(f"The weights to fine-tune do not fit this model ({exc}).") from exc
    net = net.to(dev)
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
    own = family.optimizers(net, cfg.lr, cfg.weight_decay)  # a family with steps of its own (GAN), else None
    if own is not None and world > 1:
        raise TrainingError(f"The {family.name} family trains in one process: run it without torchrun.")
    if own is None:
        optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in own.items()}
    use_amp = cfg.amp and dev.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    averaged = (torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(
        cfg.ema)) if cfg.ema else None)
    judged = averaged.module if averaged is not None else net  # the weights validated and saved
    start, history, best, bad = 0, [], None, 0
    card_base = dict(card or {})
    state_path = out / TRAIN_STATE
    if resume and state_path.is_file():
        state = load_train_state(state_path)
        net.load_state_dict(state["model"])
        if averaged is not None and "averaged" in state:
            averaged.load_state_dict(state["averaged"])
        if own is None:
            optimizer.load_state_dict(state["optimizer"])
        else:
            for name, opt in own.items():
                opt.load_state_dict(state["optimizers"][name])
        start, best, bad = int(state["step"]), state["best"], int(state["bad"])
        history = json.loads(state["history"])
        if state.get("before") is not None:
            card_base["validation_loss_before"] = state["before"]
    if hasattr(train_ds, "rng"):  # each process, and each resumed run, sees other examples
        train_ds.rng = np.random.default_rng([cfg.seed, rank, start])

    collate = family.collate
    train_iter = _forever(DataLoader(train_ds, batch_size=cfg.batch_size, collate_fn=collate))
    valid_loader = DataLoader(valid_ds, batch_size=cfg.batch_size, collate_fn=collate)
    t0, running, status = time.time(), None, "finished"
    val = history[-1]["val_loss"] if history else None
    done = start

    def save_state() -> None:
        if rank == 0:
            optimizer_state = ({"optimizer": optimizer.state_dict()} if own is None
                               else {"optimizers": {name: opt.state_dict() for name, opt in own.items()}})
            if averaged is not None:
                optimizer_state["averaged"] = averaged.state_dict()
            save_train_state(state_path, {"model": net.state_dict(), **optimizer_state,
                                          "step": done, "best": best, "bad": bad, "history": json.dumps(history),
                                          "before": card_base.get("validation_loss_before")})

    def save_best(step: int) -> None:
        """The judged weights, validated best so far at ``step``, as the model."""
        if rank == 0:
            save_model(out, family.name, family.config_to_dict(model_config), judged.state_dict(),
                       _card(card_base, family, model_config, cfg, step, best, judged, dev, t0))

    if initial is not None and start == 0:
        best = evaluate(family, judged, valid_loader, dev)
        card_base["validation_loss_before"] = round(best, 4)
        save_best(0)
    model.train()
    for step in range(start, cfg.steps):
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        lr = _lr_at(step, cfg)
        batch = next(train_iter)
        if own is None:
            for group in optimizer.param_groups:
                group["lr"] = lr
            autocast = torch.autocast("cuda", dtype=amp_dtype) if use_amp else contextlib.nullcontext()
            with autocast:
                loss, _ = family.loss(model, batch, dev)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            value = float(loss.detach())
        else:  # the family's own steps, in float32, each optimizer on its schedule
            scale = lr / cfg.lr if cfg.lr else 0.0
            for name, opt in own.items():
                for group, base_lr in zip(opt.param_groups, base_lrs[name], strict=True):
                    group["lr"] = base_lr * scale
            value, _ = family.train_step(model, batch, dev, own, cfg.grad_clip)
        if averaged is not None:
            averaged.update_parameters(net)
        running = value if running is None else 0.9 * running + 0.1 * value
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            val = evaluate(family, judged, valid_loader, dev)
            history.append({"step": done, "train_loss": running, "val_loss": val, "lr": lr,
                            "elapsed_s": time.time() - t0})
            if best is None or val < best:
                best, bad = val, 0
                save_best(done)
            else:
                bad += 1
            if rank == 0:
                _write_log(out, history)
            if cfg.patience and bad >= cfg.patience:
                status = "early-stopped"
        if done % cfg.checkpoint_every == 0 or done == cfg.steps or status != "finished":
            save_state()
        if progress is not None:
            progress(Progress(done, cfg.steps, running, val, best, lr, time.time() - t0))
        if status != "finished":
            break
    if status == "cancelled":
        save_state()
    if world > 1:
        torch.distributed.barrier()
    return TrainResult(status, done, best, out, history, net)


def _forever(loader: DataLoader):  # -> iterator of batches
    while True:
        yield from loader


def _card(base: dict[str, Any], family: ModelFamily, model_config: Any, cfg: TrainConfig, step: int,
          best: float, net: torch.nn.Module, device: torch.device, t0: float) -> dict[str, Any]:
    n_params = sum(p.numel() for p in net.parameters())
    return {**base, "family": family.name, "steps": step, "validation_loss": round(best, 4),
            "parameters": n_params, "size_mb": round(n_params * 4 / 2**20, 2),
            "trained_on": describe_device(device), "train_seconds": round(time.time() - t0, 1),
            "date": time.strftime("%Y-%m-%d"), "training": asdict(cfg),
            "config": family.config_to_dict(model_config)}


def _write_log(out: Path, history: list[dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write(out / "log.csv", lambda p: p.write_text(buffer.getvalue()))
    atomic_write(out / "log.json", lambda p: p.write_text(json.dumps(history, indent=1) + "\n"))
