"""The one table of requests (pixflow/serving/requests.py) against everything else that names requests: the clients'
list in protocol.py, docs/protocol.md's table, docs/security.md's roles and the protocol vectors."""

from __future__ import annotations

import json
import re

import pytest

from pixflow.protocol import REPLY_TYPES, REQUEST_TYPES
from pixflow.security.roles import Role
from pixflow.serving.requests import TABLE
from tests.helpers import REPO

DOCS = REPO / "docs"


def _protocol_rows() -> dict[str, list[str]]:
    """docs/protocol.md's requests table: name -> [fields, least role, reply]."""
    lines = (DOCS / "protocol.md").read_text().splitlines()
    start = lines.index("| request `type` | fields | least role | reply `type` |") + 2
    rows: dict[str, list[str]] = {}
    for line in lines[start:]:
        if not line.startswith("| `"):
            break
        name, *cells = line.strip("| ").split(" | ")
        rows[name.strip("`")] = cells
    return rows


def test_protocol_py_lists_the_table_s_requests_in_its_order():
    assert [kind.name for kind in TABLE] == list(REQUEST_TYPES)
    assert {reply for kind in TABLE for reply in kind.replies} <= set(REPLY_TYPES)


def test_docs_protocol_table_says_what_the_table_says():
    rows = _protocol_rows()
    assert list(rows) == [kind.name for kind in TABLE]
    for kind in TABLE:
        fields, role, reply = rows[kind.name]
        assert fields == kind.doc, kind.name
        assert role == f"`{kind.role.label}`", kind.name
        assert reply.startswith(f"`{kind.replies[0]}`"), kind.name
        assert all(f"`{name}`" in reply for name in kind.replies), kind.name


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.label)
def test_docs_security_names_each_request_under_its_least_role(role: Role):
    text = (DOCS / "security.md").read_text()
    [row] = [line for line in text.splitlines() if line.startswith(f"| `{role.label}` |")]
    named = set(re.findall(r"`([a-z_]+)`", row)) & set(REQUEST_TYPES)
    assert named == {kind.name for kind in TABLE if kind.role == role}


def test_every_request_has_a_vector():
    vectors = json.loads((DOCS / "protocol-vectors.json").read_text())["vectors"]
    sent = {vector["message"].get("type") for vector in vectors if vector["kind"] == "request"}
    assert sent >= {kind.name for kind in TABLE}
