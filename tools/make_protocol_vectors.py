"""Writes docs/protocol-vectors.json: run from the repo root after changing a message (then check the diff).

    .venv/bin/python tools/make_protocol_vectors.py

The messages themselves are in tools/protocol_vectors/; this file only encodes them and writes the JSON.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from protocol_vectors import VECTORS  # tools/ is sys.path[0] when this file is run as a script

ABOUT = 'msgpack test vectors for pixflow wire protocol v1; see docs/protocol.md. Byte strings are {"$bin": hex}.'
OUT = "docs/protocol-vectors.json"  # relative: the script is run from the repo root


def to_py(value: Any) -> Any:
    """The message as the worker packs it: {"$bin": hex} placeholders become bytes again."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {key: to_py(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_py(item) for item in value]
    return value


def entries() -> list[dict[str, Any]]:
    """One JSON entry per vector: its name, kind (and topic for events), message and msgpack bytes in hex."""
    out = []
    for name, kind, message in VECTORS:
        entry: dict[str, Any] = {"name": name, "kind": kind.split(":")[0]}
        if kind.startswith("event:"):
            entry["topic"] = kind.split(":", 1)[1]
        entry["message"] = message
        entry["hex"] = msgpack.packb(to_py(message), use_bin_type=True).hex()
        out.append(entry)
    return out


def main() -> None:
    out = entries()
    # indent=1 and no trailing newline: the committed file's exact bytes, so a rerun diffs empty.
    with open(OUT, "w") as f:
        json.dump({"about": ABOUT, "vectors": out}, f, indent=1)
    print(len(out))


if __name__ == "__main__":
    main()
