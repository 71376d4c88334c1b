#!/usr/bin/env bash
# Build the Rust client offline against Debian's packaged crates. Idempotent: installs the
# librust-*-dev packages only when one is missing (apt-get update only then, and only if the
# package lists do not know them), then `cargo build --release --offline` (a no-op when up to date).
#   clients/rust/setup.sh            ->  clients/rust/target/release/pixflow-client
#   clients/rust/setup.sh --deps     ->  only the packages (for `cargo test`, `cargo clippy`)
set -euo pipefail
cd "$(dirname "$0")"

# Debian 12's versions: zmq 0.9.2 (binds libzmq, pulls libzmq3-dev), rmp-serde 1.1.1, serde 1.0.152,
# serde_bytes 0.11.5, thiserror 1.0.38, uuid 1.2.1, crossbeam-channel 0.5.6; for the CLI serde_json
# 1.0.87 and hex 0.4.3; for previews image 0.24.3; for the tests and examples proptest 1.0.0, tui 0.19.0
# and crossterm 0.25.0. cargo resolves dev-dependencies even for a plain build, so all are installed.
PACKAGES=(librust-zmq-dev librust-rmp-serde-dev librust-serde-dev librust-serde-derive-dev
          librust-serde-bytes-dev librust-thiserror-dev librust-uuid-dev librust-getrandom-dev
          librust-crossbeam-channel-dev librust-serde-json-dev librust-hex-dev librust-image-dev
          librust-proptest-dev librust-proptest+std-dev librust-tui-dev librust-crossterm-dev pkg-config)

missing=()
for package in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != "installed" ]; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; }
  # Update the package lists only when they do not know a package we need, or are too old to
  # download it.
  updated=0
  for package in "${missing[@]}"; do
    if ! apt-cache show "$package" >/dev/null 2>&1; then
      "${sudo[@]}" apt-get update -q
      updated=1
      break
    fi
  done
  if ! install "${missing[@]}"; then
    [ "$updated" -eq 0 ] || exit 1
    "${sudo[@]}" apt-get update -q
    install "${missing[@]}"
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup.sh: cargo is not installed" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--deps" ]; then
  exit 0
fi

# .cargo/config.toml (read because we are in this folder) replaces crates-io with
# /usr/share/cargo/registry. The binary needs the `cli` feature (the vector checker).
cargo build --release --offline --features cli --bin pixflow-client
echo "setup.sh: built $(pwd)/target/release/pixflow-client" >&2
