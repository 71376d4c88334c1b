"""The messages of docs/protocol-vectors.json, as Python data; tools/make_protocol_vectors.py encodes them.

Split by kind so each file stays readable; VECTORS keeps the order the JSON file has always had.
"""

from __future__ import annotations

from .events import EVENTS
from .requests_replies import REQUESTS_AND_REPLIES
from .shared import Vector

VECTORS: list[Vector] = REQUESTS_AND_REPLIES + EVENTS

__all__ = ["VECTORS", "Vector"]
