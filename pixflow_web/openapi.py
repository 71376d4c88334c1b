"""The OpenAPI 3.1 document of the web API, built from routes.TABLE each time it is asked for: never kept by hand."""

from __future__ import annotations

from typing import Any

from pixflow_web import schemas as s
from pixflow_web.routes import (
    CALL,
    EVENTS,
    HEALTH,
    IMAGE,
    JOB_EVENTS,
    LAST_EVENT_ID,
    ME,
    OPENAPI,
    PAGES,
    STATUSES,
    TABLE,
    UNKNOWN_CODE_STATUS,
    Param,
    Route,
)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "application/octet-stream")
ERROR_REF = {"$ref": "#/components/schemas/Error"}
DESCRIPTION = (
    "pixflow's worker protocol (docs/protocol.md) over HTTP. Each route sends one protocol request; an `error` "
    "reply is answered with the HTTP status of its code and a JSON body `{code, message}`. Tokens: "
    "`Authorization: Bearer TOKEN`, each token a role (viewer, submitter, admin)."
)


def _parameter(param: Param, where: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": param.name, "in": where, "schema": param.schema}
    if where == "path":
        found["required"] = True
    if param.doc:
        found["description"] = param.doc
    return found


def _json(schema: s.Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _success(route: Route) -> dict[str, Any]:
    if route.serve in (CALL, HEALTH, OPENAPI, ME):
        return {"description": route.doc, "content": _json(route.answer)}
    if route.serve == IMAGE:
        content = {kind: {"schema": {"type": "string", "contentMediaType": kind}} for kind in IMAGE_TYPES}
        content.update(_json(route.answer))  # the atlas (JSON), or the figures with ?meta=1
        return {"description": "the bytes, with their Content-Type; JSON figures with ?meta=1", "content": content}
    if route.serve in (EVENTS, JOB_EVENTS):
        stream = {"type": "string", "description": "`id:`, `event:`, `data:` (JSON) lines; `:` keep-alive comments"}
        return {"description": route.doc, "content": {"text/event-stream": {"schema": stream}}}
    assert route.serve in PAGES, route.serve
    return {"description": route.doc, "content": {"text/html": {"schema": route.answer}}}


def _responses(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _success(route)}
    if route.serve == OPENAPI or route.serve in PAGES:
        return responses
    codes: dict[int, list[str]] = {}
    for code, status in STATUSES.items():
        codes.setdefault(status, []).append(code)
    codes[UNKNOWN_CODE_STATUS] = ["any other code of the worker"]
    for status in sorted(codes):
        if status == 401 and route.role is None:
            continue
        text = ", ".join(f"`{code}`" for code in codes[status])
        responses[str(status)] = {"description": text, "content": _json(ERROR_REF)}
    return responses


def operation(route: Route) -> dict[str, Any]:
    found: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.doc,
        "security": [{"bearer": []}] if route.role else [],
        "x-pixflow-role": route.role,
        "x-pixflow-request": route.request,
    }
    role = f"Least role: {route.role}." if route.role else "No token needed."
    found["description"] = f"{role} Sends `{route.request}`." if route.request else role
    parameters = [_parameter(p, "path") for p in route.params] + [_parameter(p, "query") for p in route.query]
    if route.serve in (EVENTS, JOB_EVENTS):
        header = {"type": "string", "description": "the `id` of the last event received: the stream resumes after it"}
        parameters.append({"name": LAST_EVENT_ID, "in": "header", "schema": header})
    if parameters:
        found["parameters"] = parameters
    if route.body is not None:
        found["requestBody"] = {"required": route.request != "retry", "content": _json(route.body)}
    found["responses"] = _responses(route)
    return found


def document(version: str = "1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in TABLE:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "pixflow web API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": {"Error": s.ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
