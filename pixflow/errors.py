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
    QUEUE_FULL = "queue_full"  # pixflow's queue is at its limit (max_queued), or the owner's (max_queued_per_owner)
    FORBIDDEN = "forbidden"  # the client key's role does not allow this request, or not on this job
    TOO_LARGE = "too_large"  # fetch_output: the image is larger than max_fetch_bytes
    SHUTTING_DOWN = "shutting_down"  # the worker is stopping: no new jobs (SIGTERM; see docs/operations.md)
    NOT_LEADER = "not_leader"  # this coordinator stands by: send to the leader (the reply's `leader`, docs/deploy.md)
    STORE_UNAVAILABLE = "store_unavailable"  # the job store (PostgreSQL) cannot be reached now: try again
    INTERNAL = "internal"  # a bug in pixflow: the message says what failed


class FailureCode(StrEnum):
    """Why a job ended `failed`: its `error.code` (docs/protocol.md, "Errors of jobs")."""

    VALIDATION_ERROR = "validation_error"  # ComfyUI refused the prompt (HTTP 400)
    EXECUTION_ERROR = "execution_error"  # a node raised while running
    INTERRUPTED = "interrupted"  # ComfyUI interrupted it, not at pixflow's request
    OUTPUT_FAILED = "output_failed"  # the images could not be downloaded or written
    NO_OUTCOME = "no_outcome"  # ComfyUI ended the prompt with neither success nor error
    LOST = "lost"  # ComfyUI lost the prompt max_attempts times
    INTERNAL = "internal"  # a bug in pixflow while handling one of the job's events or timers
    NO_CAPABLE_BACKEND = "no_capable_backend"  # no backend of the pool has what it needs


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


class SettingError(ConfigError):
    """A setting that is unknown or not allowed: the message names the key, the value and what is allowed."""

    def __init__(self, message: str, key: str, code: str = "invalid_setting") -> None:
        super().__init__(message)
        self.key = key
        self.code = code  # invalid_setting, or unknown_setting (a key that is no setting)


class StoreLockedError(ConfigError):
    """Another worker holds the job store: one worker per store (docs/operations.md)."""

    code = "store_locked"


class StoreError(PixflowError):
    """The job store failed: a query, the connection, or this coordinator's right to write (FencedError)."""

    code = "store_failed"


class StoreUnavailableError(StoreError):
    """The store cannot be reached (PostgreSQL down, restarting or cut off); what was not committed is not stored."""

    code = "store_unavailable"


class FencedError(StoreError):
    """A write refused because this coordinator's term is no longer the store's: another one leads now. Its holder
    stops serving and stands by (pixflow/ha)."""

    code = "fenced"


class RecordingError(PixflowError):
    """A ComfyUI run could not be recorded to its end (the lines written so far stay in the file)."""

    code = "recording_failed"


class RecordingTimeout(RecordingError):
    """The recorded prompt did not finish within the recording's timeout."""

    code = "recording_timeout"


class SpriteError(PixflowError):
    """A sprite step that cannot run as asked: bad parameters, a palette that cannot be read, a sprite too big.

    Codes: invalid_step, invalid_param, invalid_palette, not_an_image, does_not_fit (pixflow/sprites); on a worker
    also steps_crashed and steps_timeout (the process running the steps died, or took too long)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[SpriteError], tuple[str, str]]:
        # The steps run in other processes (comfy/threads.py): the error comes back pickled, code and all.
        return SpriteError, (self.code, self.message)
