"""The worker limits glibc's malloc arenas before it starts its threads (pixflow/ops/arenas.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixflow.ops.arenas import limit_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_arena_limit_applies_unless_the_environment_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "from pixflow.ops.arenas import limit_arenas; print(limit_arenas())"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert fresh.stdout.strip() == "True"  # a fresh process on glibc takes it
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False  # the operator's own setting wins
