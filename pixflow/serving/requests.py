"""Every request type, once: the least role that may send it, the parser of its fields, its handler, its reply type and
the fields as docs/protocol.md's table lists them.

A new request is a row here, a handler, a vector in tools/make_protocol_vectors.py and its name in
`protocol.REQUEST_TYPES` (the clients' list); tests/test_request_table.py checks that protocol.py, docs/protocol.md's
table, docs/security.md's roles and the vectors say the same as this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pixflow.security.roles import Caller, Role
from pixflow.serving import control_requests, fields, group_requests, job_requests, retry_requests
from pixflow.serving.context import Request, Serving

SEE_BELOW = "see below"  # the fields of `generate` and `compare` have sections of their own in docs/protocol.md


@dataclass(frozen=True)
class RequestType:
    name: str
    role: Role  # the least role that may send it (docs/security.md); roles are ordered
    parse: Callable[[dict[str, Any]], Any]  # the request's map -> its fields (fields.py), or RequestError
    handle: Callable[[Serving, Request, Any], dict[str, Any]]  # -> the reply map
    replies: tuple[str, ...]  # the reply's `type` (or types), when it is no `error`
    doc: str  # the fields, as docs/protocol.md's table says them

    def answer(self, serving: Serving, request: Request) -> dict[str, Any]:
        request.caller.check(self.name, self.role)  # forbidden beyond the key's role, before any field is read
        return self.handle(serving, request, self.parse(request.message))


_V, _S, _A = Role.VIEWER, Role.SUBMITTER, Role.ADMIN
_JOB_PAGE = (
    "`state` (a state, or a list of at most 9: each state once), `group_id` (only that group's jobs), `limit` "
    "(default 100; more than 1000 is served as 1000 — follow `next`), `offset` (default 0), `before` (a job id: only "
    "jobs that arrived before it; pass the previous page's `next`)"
)
_OUTPUT = (
    "`job_id`, `index` (default 0, 0 to 2^32-1; past the job's images `not_found`), `max_side` (optional, 16-4096: a "
    "PNG thumbnail), `variant` (`final` or `raw`); or `group_id` and `variant` (`sheet`, `atlas`, `aseprite`, "
    "`preview` with `row`): a sheet's files"
)
_RETRY = "`job_id` (an ended job), `id` (optional: the new job's), `seed` or `new_seed` (optional)"

_PREVIEW = "`job_id`, `max_side` (optional)"

TABLE: tuple[RequestType, ...] = (
    RequestType("ping", _V, fields.no_fields, job_requests.ping, ("pong",), "—"),
    RequestType("generate", _S, fields.new_job, job_requests.generate, ("accepted",), SEE_BELOW),
    RequestType("cancel", _S, fields.job_ref, job_requests.cancel, ("job",), "`job_id`"),  # own jobs, unless admin
    RequestType("status", _V, fields.status_of, job_requests.status, ("job", "worker"), "`job_id` (optional)"),
    RequestType("list_jobs", _V, fields.job_page, job_requests.list_jobs, ("jobs",), _JOB_PAGE),
    RequestType("list_models", _V, fields.no_fields, job_requests.list_models, ("models",), "—"),
    RequestType("list_workflows", _V, fields.no_fields, job_requests.list_workflows, ("workflows",), "—"),
    RequestType("pause", _A, fields.no_fields, control_requests.pause, ("worker",), "—"),
    RequestType("resume", _A, fields.no_fields, control_requests.resume, ("worker",), "—"),
    RequestType("compare", _S, fields.new_group, group_requests.compare, ("group",), SEE_BELOW),
    # Reading a group is reading its jobs' snapshots, which `status` shows any viewer.
    RequestType("group", _V, fields.group_ref, group_requests.group, ("group",), "`group_id`"),
    RequestType("sheet", _S, fields.new_group, group_requests.sheet, ("group",), SEE_BELOW),
    RequestType("retry", _S, fields.retry_of, retry_requests.retry, ("accepted",), _RETRY),  # own jobs, unless admin
    RequestType("fetch_output", _S, fields.output_ref, job_requests.fetch_output, ("image",), _OUTPUT),  # own jobs
    RequestType("fetch_preview", _S, fields.job_ref, job_requests.fetch_preview, ("image",), _PREVIEW),  # own jobs
    RequestType("drain", _A, fields.backend_ref, control_requests.drain, ("backend",), "`backend` (name)"),
    RequestType("disable", _A, fields.backend_ref, control_requests.disable, ("backend",), "`backend`"),
    RequestType("enable", _A, fields.backend_ref, control_requests.enable, ("backend",), "`backend`"),
)
BY_NAME: dict[str, RequestType] = {kind.name: kind for kind in TABLE}


def answer(serving: Serving, message: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """The reply to a request whose envelope protocol.decode_request has checked (a known `type`). With
    `on_behalf` (a proxy key's, docs/security.md "Proxies") it is served as the user it names, role and owner."""
    if "on_behalf" in message:
        caller = caller.on_behalf(message["on_behalf"])
    return BY_NAME[message["type"]].answer(serving, Request(message, caller))
