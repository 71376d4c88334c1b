"""A schema-driven fuzz run: schemathesis generates requests for every operation of the served /v1/openapi.json
and sends them, with an admin token, to a real web server on a ThreadWorker on the replay ComfyUI. No answer may
be a 5xx (`not_a_server_error`); a few examples per operation, derandomized, so that CI runs the same cases
(`PIXFLOW_FUZZ_EXAMPLES=200` for a longer hunt)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from pixflow.testing import ThreadWorker
from tests.web.conftest import TIMEOUT, TOKENS, Web

ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}
EXAMPLES = int(os.environ.get("PIXFLOW_FUZZ_EXAMPLES", "20"))  # per operation
STREAM = r"/events$"  # the SSE routes stream until the job ends or forever: their own test below


@pytest.fixture
def fuzzed(worker: ThreadWorker, start_web: Callable[..., Web]) -> Web:
    return start_web(worker, keepalive=0.2)


@pytest.fixture
def web_schema(fuzzed: Web) -> Any:
    return schemathesis.openapi.from_url(fuzzed.url + "/v1/openapi.json", timeout=TIMEOUT)


schema = schemathesis.pytest.from_fixture("web_schema")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.exclude(path_regex=STREAM).parametrize()
@FUZZ
def test_no_request_gets_a_server_error(case: Any, fuzzed: Web) -> None:
    case.call_and_validate(base_url=fuzzed.url, headers=ADMIN, checks=[not_a_server_error], timeout=TIMEOUT)


@schema.include(path_regex=STREAM).parametrize()
@FUZZ
def test_no_stream_request_gets_a_server_error(case: Any, fuzzed: Web) -> None:
    """The streams: only the status and headers are read (a stream that starts is not read to its end)."""
    kwargs = case.as_transport_kwargs(base_url=fuzzed.url, headers=ADMIN)
    with requests.request(**kwargs, stream=True, timeout=TIMEOUT) as response:
        assert response.status_code < 500, (kwargs, response.status_code, response.text[:500])
