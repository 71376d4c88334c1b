"""Errors with stable codes: each maps to an `error` reply on the wire."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"  # not msgpack, not a map, missing envelope fields
    UNKNOWN_TYPE = "unknown_type"  # "type" names no request
    UNSUPPORTED_VERSION = "unsupported_version"  # "v" is not a version this worker speaks
    INVALID_PARAMS = "invalid_params"  # a field is missing, of the wrong type or out of range
    NOT_FOUND = "not_found"  # no such job
    ALREADY_FINISHED = "already_finished"  # cancel of a job that has ended
    QUEUE_FULL = "queue_full"  # pixflow's queue is at its limit (max_queued)
    INTERNAL = "internal"  # a bug in pixflow: the message says what failed


class PixflowError(Exception):
    """Base of pixflow's own errors."""


class RequestError(PixflowError):
    """A request that gets an `error` reply; the worker goes on serving."""

    def __init__(self, code: ErrorCode, message: str, req_id: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.req_id = req_id  # echoed in the reply when the request got far enough to have one


class WorkflowError(PixflowError):
    """A workflow file that cannot be loaded or filled."""


class BackendError(PixflowError):
    """ComfyUI could not be reached or answered something unusable."""


class ConfigError(PixflowError):
    """The settings file or flags are invalid."""


class RecordingError(PixflowError):
    """A ComfyUI run could not be recorded to its end (the lines written so far stay in the file)."""

    code = "recording_failed"


class RecordingTimeout(RecordingError):
    """The recorded prompt did not finish within the recording's timeout."""

    code = "recording_timeout"
