"""Shared test settings: deterministic hypothesis, CPU only, no user data touched."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Same examples on every run: a test either always passes or always fails.
settings.register_profile(
    "deterministic", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("deterministic")
os.environ.setdefault("MUSICGEN_DEVICE", "cpu")
