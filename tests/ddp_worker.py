"""Run under torchrun by test_train.py: a few data-parallel steps, then each rank's weights."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from enginefixtures import train_debug_rnn

out = Path(sys.argv[1])
torch.set_num_threads(1)
_, result = train_debug_rnn(out / "model", steps=6)
digest = hashlib.sha256()
for name, tensor in sorted(result.network.state_dict().items()):
    digest.update(name.encode())
    digest.update(tensor.detach().cpu().numpy().tobytes())
(out / f"rank{os.environ['RANK']}.sha256").write_text(digest.hexdigest())
torch.distributed.destroy_process_group()
