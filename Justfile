# pixflow tasks. Run through ./dev, which prepares .venv first (./dev test, ./dev demo).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Replay server + worker + three jobs with live progress; PNGs land in output/demo
demo *ARGS:
    python -m pixflow.cli demo {{ARGS}}

# Lint, then the whole test suite (fast tier on recorded ComfyUI runs)
test *ARGS: lint
    python -m pytest -q {{ARGS}}

# ruff: lint and format check
lint:
    ruff check .
    ruff format --check pixflow

# Benchmarks: each figure next to its baseline from the same run; writes bench-results/latest.json
bench *ARGS:
    python -m bench.run {{ARGS}}

# Run the worker against a ComfyUI (default http://127.0.0.1:8188)
serve *ARGS:
    python -m pixflow.cli serve {{ARGS}}

# A stand-in ComfyUI on :8188 that replays recorded runs (for building clients without a GPU)
replay *ARGS:
    python -m pixflow.cli replay {{ARGS}}
