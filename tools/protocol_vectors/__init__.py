"""The messages of docs/protocol-vectors.json, as Python data; tools/make_protocol_vectors.py encodes them.

Split by kind so each file stays readable; VECTORS keeps the order the JSON file has always had.
"""

from __future__ import annotations

from .events import EVENTS
from .groups import GROUPS
from .pool import POOL
from .requests_replies import REQUESTS_AND_REPLIES
from .security import SECURITY
from .shared import Vector
from .sprites import SPRITES
from .workflows import WORKFLOWS

# New vectors go at the end: older ones keep their place.
VECTORS: list[Vector] = REQUESTS_AND_REPLIES + EVENTS + GROUPS + SECURITY + POOL + WORKFLOWS + SPRITES

__all__ = ["VECTORS", "Vector"]
