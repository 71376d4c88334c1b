# pixflow tasks. Run through ./dev, which prepares .venv first (./dev test, ./dev demo).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Replay server + worker + three jobs with live progress; PNGs land in output/demo (--monitor: watch in the dashboard)
demo *ARGS:
    python -m pixflow demo {{ARGS}}

# Lint, the Rust client's checks and tests, then the whole test suite (fast tier on recorded ComfyUI runs)
test *ARGS: lint rust-check node-deps
    python -m pytest -q {{ARGS}}

# The atlas's independent reader for the tests: Phaser from npm, in .cache/node (once; CI needs npm)
node-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -f .cache/node/node_modules/phaser/package.json ]; then exit 0; fi
    if ! command -v npm >/dev/null 2>&1; then
      if [ -n "${CI:-}" ]; then echo "node-deps: npm is not installed, and CI reads the atlas with Phaser" >&2; exit 1; fi
      echo "node-deps: npm is not installed: the atlas's Phaser test is skipped" >&2; exit 0
    fi
    mkdir -p .cache/node
    npm install --prefix .cache/node --no-save --no-package-lock --no-audit --no-fund --loglevel=error phaser@4.2.1

# End-to-end tier against a real ComfyUI on CPU (sets it up in .cache/e2e the first time: ~2 minutes)
e2e *ARGS:
    python e2e/run_e2e.py {{ARGS}}

# Re-record every fixture in fixtures/recordings from a real ComfyUI
record-fixtures *ARGS:
    python e2e/record_fixtures.py {{ARGS}}

# ruff (lint and format check of every Python file) and mypy (strict for pixflow/ and pixflow_web/, basic for pixflow_monitor/)
lint:
    ruff check .
    ruff format --check .
    mypy --strict pixflow
    mypy --strict pixflow_web
    mypy pixflow_monitor

# Benchmarks: each figure next to its baseline from the same run; writes bench-results/latest.json
bench *ARGS:
    python -m bench.run {{ARGS}}

# The operator's dashboard (pixflow-monitor) on a worker's default addresses
monitor *ARGS:
    python -m pixflow_monitor {{ARGS}}

# Run the worker against a ComfyUI (default http://127.0.0.1:8188)
serve *ARGS:
    python -m pixflow serve {{ARGS}}

# A stand-in ComfyUI on :8188 that replays recorded runs (for building clients without a GPU)
replay *ARGS:
    python -m pixflow replay {{ARGS}}

# The Rust client: cargo fmt --check, clippy (warnings are errors) and its tests, offline against Debian's crates.
# Needs cargo; installs ~180 Debian packages (the crates it builds against, libzmq3-dev) the first time. Without
# cargo, or with PIXFLOW_RUST=0, it says so and skips; PIXFLOW_RUST=1 (CI) makes a missing cargo an error.
rust-check:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "${PIXFLOW_RUST:-}" != "1" ]; then
      if [ "${PIXFLOW_RUST:-}" = "0" ]; then
        echo "rust-check: PIXFLOW_RUST=0: skipping the Rust client's checks" >&2; exit 0
      fi
      if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
        echo "rust-check: cargo is not installed: skipping the Rust client's checks (CI runs them)" >&2; exit 0
      fi
    fi
    clients/rust/setup.sh
    cd clients/rust
    export PATH="$PATH:$HOME/.cargo/bin"
    cargo fmt --check
    cargo clippy --offline --all-features --all-targets -- -D warnings
    cargo test --offline --all-features
