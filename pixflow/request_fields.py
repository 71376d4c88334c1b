"""Fields of requests other than `generate` (pixflow/workflows/params.py): each checked for its type and range, so
that any value a client sends gets `invalid_params`, never an exception deeper in (tests/test_fuzz_requests.py)."""

from __future__ import annotations

from typing import Any

from pixflow.errors import ErrorCode, RequestError
from pixflow.vocabulary import JobState

MAX_OFFSET = 2**62  # SQLite integers are 64-bit signed; anything near that is no real offset anyway
MAX_STATE_FILTER = len(JobState)  # `state` lists at most every state once: each one is a variable of the query


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def parse_states(message: dict[str, Any]) -> list[str] | None:
    """`state`: a state name or a list of them; absent or nil for all."""
    states = message.get("state")
    if states is None:
        return None
    if isinstance(states, str):
        states = [states]
    valid = [s.value for s in JobState]
    if isinstance(states, list) and len(states) > MAX_STATE_FILTER:
        raise _invalid(f"'state' lists {len(states)} states; at most {MAX_STATE_FILTER} (each state once)")
    # Check each item's type before comparing: a list or map in the list is unhashable and not a state.
    if not isinstance(states, list) or not all(isinstance(s, str) and s in valid for s in states):
        raise _invalid(f"'state' must be a state or a list of states from: {', '.join(valid)}")
    return list(dict.fromkeys(states))  # a state named twice filters the same


def parse_int(message: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    """An optional integer field within [low, high] (booleans are not integers on the wire)."""
    value = message.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"'{name}' must be an integer from {low} to {high}, got {_short(value)}")
    return value


def parse_flag(message: dict[str, Any], name: str) -> bool:
    value = message.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
