"""THE table of the web API: every route, once. The server's handlers (app.py), its token checks (auth.py), the
OpenAPI document (openapi.py) and docs/web.md's routes table are all made from it, so none can say otherwise.

A route names its method and path, the protocol request it sends (docs/protocol.md) or what the web server serves
itself, the least role that may call it, how its path, query and body become the request's fields, the JSON
Schemas of its body and its answer, and one line of doc.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pixflow_web import schemas as s

VIEWER, SUBMITTER, ADMIN = "viewer", "submitter", "admin"
ROLES = (VIEWER, SUBMITTER, ADMIN)  # ordered, as the protocol's: each may do what the ones before it may

# How a route is served: `call` sends its request and answers the reply as JSON; `image` answers the reply's bytes
# (or its figures as JSON with ?meta=1); the others are the web server's own.
CALL, IMAGE, HEALTH = "call", "image", "health"
EVENTS, JOB_EVENTS, OPENAPI, DOCS = "events", "job_events", "openapi", "docs"
CONSOLE, ME = "console", "me"
PAGES = (DOCS, CONSOLE)  # HTML pages of static/, no token needed


@dataclass(frozen=True)
class Param:
    """A path or query parameter: its schema, and the request field it fills (its own name unless said)."""

    name: str
    schema: s.Schema
    doc: str = ""
    field: str | None = None

    @property
    def target(self) -> str:
        return self.field or self.name


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    request: str | None  # the protocol request it sends; None: the web server answers itself
    role: str | None  # the least role (ROLES); None: no token needed
    doc: str
    answer: s.Schema
    serve: str = CALL
    body: s.Schema | None = None  # the JSON body's schema: its fields go into the request as they are
    params: tuple[Param, ...] = ()  # path parameters, in the path's order
    query: tuple[Param, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)  # fields the route itself sets

    @property
    def name(self) -> str:
        """The OpenAPI operationId: the method and the path's words."""
        words = [part.strip("{}") for part in self.path.split("/") if part and part != "v1"] or ["console"]
        return "_".join([self.method.lower(), *words]).replace(".", "_")


JOB_ID = Param("job_id", s.ID, "the job's id")
GROUP_ID = Param("group_id", {**s.ID, "maxLength": 120}, "the group's id")
BACKEND = Param("name", s.STRING, "the backend's name", field="backend")
MAX_SIDE = Param("max_side", s.ranged(16, 4096), "a PNG thumbnail at most this many pixels a side")
META = Param("meta", s.BOOL, "1: the image's figures as JSON, without its bytes")
PAGE = (
    Param("state", s.STRING, "a state, or several separated by commas"),
    Param("group_id", s.ID, "only that group's jobs"),
    Param("limit", s.ranged(0, 1000), "jobs in the page (default 100)"),
    Param("offset", s.ranged(0, 2**62), "jobs to skip (default 0)"),
    Param("before", s.ID, "only jobs that arrived before this one: the previous page's `next`"),
)
# The protocol's error codes as HTTP statuses; the body is {code, message}, the protocol's own. Any other code: 502.
STATUSES: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,  # the web server's own: no token, or an unknown one
    "forbidden": 403,
    "not_found": 404,
    "already_finished": 409,
    "too_large": 413,
    "invalid_params": 422,
    "queue_full": 429,
    "internal": 500,
    "shutting_down": 503,
    "timeout": 504,  # the web server's own: the worker did not answer in time
}
UNKNOWN_CODE_STATUS = 502
LAST_EVENT_ID = "Last-Event-ID"  # the header (or ?last_event_id=) a stream resumes after


def _backend(command: str, doc: str) -> Route:
    return Route("POST", f"/v1/backends/{{name}}/{command}", command, ADMIN, doc, s.BACKEND, params=(BACKEND,))


TABLE: tuple[Route, ...] = (
    Route("POST", "/v1/jobs", "generate", SUBMITTER, "queue a job (a known `id` answers that job)", s.ACCEPTED,
          body=s.GENERATE),
    Route("GET", "/v1/jobs", "list_jobs", VIEWER, "jobs, newest first, a page at a time (follow `next`)", s.JOBS,
          query=PAGE),
    Route("GET", "/v1/jobs/{job_id}", "status", VIEWER, "one job's snapshot", s.JOB, params=(JOB_ID,)),
    Route("POST", "/v1/jobs/{job_id}/cancel", "cancel", SUBMITTER, "cancel a job (409 once it has ended)", s.JOB,
          params=(JOB_ID,)),
    Route("POST", "/v1/jobs/{job_id}/retry", "retry", SUBMITTER, "an ended job's request again, as a new job",
          s.ACCEPTED, body=s.RETRY, params=(JOB_ID,)),
    Route("GET", "/v1/jobs/{job_id}/outputs/{index}", "fetch_output", SUBMITTER,
          "one saved image's bytes (its Content-Type), or its figures with ?meta=1", s.IMAGE_META, IMAGE,
          params=(JOB_ID, Param("index", s.ranged(0, 2**32 - 1), "the image's index, from 0")),
          query=(Param("variant", {"type": "string", "enum": ["final", "raw"]}, "final (default) or raw"),
                 MAX_SIDE, META)),
    Route("GET", "/v1/jobs/{job_id}/preview", "fetch_preview", SUBMITTER,
          "the last live preview of a job with `previews: true`", s.IMAGE_META, IMAGE, params=(JOB_ID,),
          query=(MAX_SIDE, META)),
    Route("GET", "/v1/jobs/{job_id}/events", None, VIEWER,
          "server-sent events of one job, `id` its `seq`; ends at its final state", {"type": "string"},
          JOB_EVENTS, params=(JOB_ID,)),
    Route("POST", "/v1/compare", "compare", SUBMITTER, "one prompt over several models and/or seeds, as a group",
          s.GROUP, body=s.COMPARE),
    Route("POST", "/v1/sheets", "sheet", SUBMITTER, "a character's sprite sheet, as a group", s.GROUP,
          body=s.SHEET),
    Route("GET", "/v1/groups/{group_id}", "group", VIEWER, "a group's jobs and files", s.GROUP, params=(GROUP_ID,)),
    Route("GET", "/v1/groups/{group_id}/files/{variant}", "fetch_output", SUBMITTER,
          "one of a sheet's files: sheet, atlas, aseprite, or a row's preview (?row=)", s.IMAGE_META, IMAGE,
          params=(GROUP_ID, Param("variant", {"type": "string", "enum": ["sheet", "atlas", "aseprite", "preview"]})),
          query=(Param("row", s.STRING, "the row of a `preview`"), META)),
    Route("GET", "/v1/workflows", "list_workflows", VIEWER, "workflows with their typed parameters", s.WORKFLOWS),
    Route("GET", "/v1/models", "list_models", VIEWER, "checkpoints the backends offer", s.MODELS),
    Route("GET", "/v1/me", None, VIEWER, "the caller's token: its name and role (what the console shows)", s.ME,
          ME),
    Route("GET", "/v1/worker", "status", VIEWER, "the worker: dispatch, queue, backends", s.WORKER),
    Route("GET", "/v1/health", "status", None, "ok, degraded (200) or down (503), with each check", s.HEALTH,
          HEALTH),
    Route("GET", "/v1/events", None, VIEWER, "server-sent events of everything: jobs, backends, groups, stats",
          {"type": "string"}, EVENTS, query=(Param("topics", s.STRING, "topic prefixes, separated by commas"),)),
    Route("POST", "/v1/pause", "pause", ADMIN, "stop handing jobs to ComfyUI", s.WORKER),
    Route("POST", "/v1/resume", "resume", ADMIN, "hand jobs to ComfyUI again", s.WORKER),
    _backend("drain", "a backend takes no new prompts; what it holds finishes there"),
    _backend("disable", "a backend takes no new prompts; its queue moves to other backends"),
    _backend("enable", "a backend takes prompts again"),
    Route("GET", "/v1/openapi.json", None, None, "this API's OpenAPI 3.1 description", s.ANY_OBJECT, OPENAPI),
    Route("GET", "/docs", None, None, "this API's documentation page", {"type": "string"}, DOCS),
    Route("GET", "/", None, None, "the console: queue, gallery, sheets, submit form, backends", {"type": "string"},
          CONSOLE),
)  # fmt: skip


def role_at_least(role: str, needed: str | None) -> bool:
    return needed is None or ROLES.index(role) >= ROLES.index(needed)
