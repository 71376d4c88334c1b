"""The aiohttp application, its handlers made from routes.TABLE: a route's path, query and JSON body become its
request's fields, the worker's reply becomes the JSON answer (or the image's bytes), and an `error` reply becomes
the HTTP status of its code with the same `code` and `message` (routes.STATUSES).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from pixflow.client import new_job_id
from pixflow_web import openapi, streams
from pixflow_web.auth import NOBODY_CHECKED, Tokens, User, bearer
from pixflow_web.hub import Hub, to_json
from pixflow_web.link import WorkerLink
from pixflow_web.routes import (
    CALL,
    CONSOLE,
    DOCS,
    EVENTS,
    HEALTH,
    IMAGE,
    JOB_EVENTS,
    ME,
    OPENAPI,
    STATUSES,
    TABLE,
    UNKNOWN_CODE_STATUS,
    Route,
    role_at_least,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 24 << 20  # a 16 MiB request's images as base64, and the JSON around them
NEW_ID_FIELDS = {"generate": "id", "compare": "group_id", "sheet": "group_id", "retry": "id"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
CONTENT_TYPES |= {"json": "application/json"}
DIGITS = re.compile(r"^[0-9]{1,20}$")
TRUE = {"1", "true", "yes", "on"}
log = logging.getLogger("pixflow.web")


@dataclass(frozen=True)
class WebSettings:
    tokens: Tokens | None  # None: no token checks (loopback only, auth.check_listen)
    keepalive: float = 15.0  # seconds between the streams' keep-alive comments
    version: str = "1"


LINK = web.AppKey("link", WorkerLink)
HUB = web.AppKey("hub", Hub)
SETTINGS = web.AppKey("settings", WebSettings)


class Refused(Exception):
    """An answer with an error status, before or instead of the worker's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def error_response(code: str, message: str) -> web.Response:
    status = STATUSES.get(code, UNKNOWN_CODE_STATUS)
    return json_response({"code": code, "message": message}, status)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=to_json(value), status=status, content_type="application/json")


def authorize(request: web.Request, route: Route) -> User:
    tokens = request.app[SETTINGS].tokens
    if tokens is None or route.role is None:
        return NOBODY_CHECKED
    token = bearer(request.headers.get("Authorization")) or request.query.get("access_token")
    user = tokens.user(token)
    if user is None:
        raise Refused("unauthorized", "a valid token is needed: Authorization: Bearer TOKEN")
    if not role_at_least(user.role, route.role):
        raise Refused(
            "forbidden", f"{route.method} {route.path} needs the role {route.role}; {user.name} is {user.role}"
        )
    return user


def _value(text: str, schema: dict[str, Any]) -> Any:
    """A path or query string as the request's field: integers and flags typed; anything else as sent, so that
    the worker answers it with its own `invalid_params` message."""
    kind = schema.get("type")
    if kind == "integer" and DIGITS.match(text):
        return int(text)
    if kind == "boolean":
        return text.lower() in TRUE
    return text


async def _body(request: web.Request, route: Route) -> dict[str, Any]:
    if route.body is None or not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except web.HTTPRequestEntityTooLarge:
        raise Refused("too_large", f"the body is larger than {MAX_BODY} bytes") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Refused("bad_request", f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise Refused("bad_request", f"the body must be a JSON object, got {type(body).__name__}")
    images = body.get("images")
    if isinstance(images, dict):
        body["images"] = {name: _image(name, data) for name, data in images.items()}
    return body


def _image(name: str, data: Any) -> bytes:
    if not isinstance(data, str):
        raise Refused("invalid_params", f"'images.{name}' must be the image's bytes as a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("invalid_params", f"'images.{name}' is not valid base64") from None


async def fields_of(request: web.Request, route: Route) -> dict[str, Any]:
    fields = await _body(request, route)
    for param in route.query:
        text = request.query.get(param.name)
        if text is None or param.name == "meta":
            continue
        value = _value(text, param.schema)
        fields[param.target] = value.split(",") if param.name == "state" and "," in text else value
    for param in route.params:
        fields[param.target] = _value(request.match_info[param.name], param.schema)
    fields.update(route.fixed)
    id_field = NEW_ID_FIELDS.get(route.request or "")
    if id_field is not None and fields.get(id_field) is None:
        fields[id_field] = new_job_id()  # chosen before it is sent: a late delivery is this same job
    return fields


def answer_of(reply: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in reply.items() if key not in ("v", "req_id", "image")}


def on_behalf(user: User) -> dict[str, Any]:
    """The worker serves each request as the web user who sent it (docs/security.md, "Proxies"): its owner, its
    quota, its role. Without a tokens file nobody is named: the request goes as the web server's key itself."""
    return {} if user is NOBODY_CHECKED else {"on_behalf": {"name": user.name, "role": user.role}}


async def _ask(request: web.Request, route: Route, user: User) -> dict[str, Any]:
    assert route.request is not None
    fields = await fields_of(request, route)
    fields.pop("on_behalf", None)  # a body's own would be honoured by the worker: only the token names the user
    reply = await request.app[LINK].call(route.request, {**fields, **on_behalf(user)})
    if reply.get("type") == "error":
        raise Refused(str(reply.get("code", "?")), str(reply.get("message", "")))
    return reply


def _image_response(request: web.Request, reply: dict[str, Any]) -> web.StreamResponse:
    if request.query.get("meta", "").lower() in TRUE:
        return json_response(answer_of(reply))
    data = reply.get("image")
    if not isinstance(data, bytes):
        return error_response("internal", "the worker's image reply has no bytes")
    kind = CONTENT_TYPES.get(str(reply.get("format")), "application/octet-stream")
    headers = {"ETag": f'"{reply.get("sha256")}"', "Cache-Control": "private, max-age=60"}
    if isinstance(reply.get("name"), str):
        headers["Content-Disposition"] = f'inline; filename="{reply["name"]}"'
    return web.Response(body=data, content_type=kind, headers=headers)


def health_of(reply: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if reply.get("type") == "error":
        checks = [{"name": "worker", "ok": False, "detail": str(reply.get("message"))}]
        return 503, {"status": "down", "checks": checks}
    checks = [{"name": "worker", "ok": True, "detail": f"pixflow {reply.get('version')}"}]
    for backend in reply.get("backends") or []:
        up = backend.get("up") is True and (backend.get("mode") or "active") == "active"
        checks.append({"name": f"backend {backend.get('name')}", "ok": up, "detail": str(backend.get("state"))})
    checks.append({"name": "dispatch", "ok": reply.get("paused") is not True, "detail": "paused or running"})
    checks.append({"name": "lifecycle", "ok": reply.get("shutting_down") is not True, "detail": "stopping or serving"})
    return 200, {"status": "ok" if all(c["ok"] for c in checks) else "degraded", "checks": checks}


def handler_for(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            user = authorize(request, route)
            if route.serve == CALL:
                return json_response(answer_of(await _ask(request, route, user)))
            if route.serve == IMAGE:
                return _image_response(request, await _ask(request, route, user))
            if route.serve == HEALTH:
                status, health = health_of(await request.app[LINK].call("status", {}))
                return json_response(health, status)
            if route.serve == EVENTS:
                return await streams.everything(request, request.app[HUB], request.app[LINK], _keepalive(request))
            if route.serve == JOB_EVENTS:
                return await streams.one_job(request, request.app[HUB], request.app[LINK], _keepalive(request))
            if route.serve == OPENAPI:
                return json_response(openapi.document(request.app[SETTINGS].version))
            if route.serve == ME:
                return json_response({"name": user.name, "role": user.role})
            assert route.serve in (DOCS, CONSOLE), route.serve
            return web.FileResponse(STATIC / f"{route.serve}.html")
        except Refused as e:
            return error_response(e.code, e.message)

    handle.__name__ = route.name
    return handle


def _keepalive(request: web.Request) -> float:
    return request.app[SETTINGS].keepalive


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (no such route, wrong method, a body too large) as the API's JSON errors too."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {404: "not_found", 413: "too_large", 405: "bad_request"}.get(e.status, "bad_request")
        response = json_response({"code": code, "message": e.reason}, e.status)
        if e.status == 405 and "Allow" in e.headers:
            response.headers["Allow"] = e.headers["Allow"]
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_response({"code": "internal", "message": "the web server failed (its log says why)"}, 500)


def make_app(link: WorkerLink, hub: Hub, settings: WebSettings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[json_errors])
    app[LINK], app[HUB], app[SETTINGS] = link, hub, settings
    for route in TABLE:
        app.router.add_route(route.method, route.path, handler_for(route), name=route.name)
    app.router.add_static("/static/", STATIC, name="static")
    return app
