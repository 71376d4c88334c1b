"""The README's settings table names every setting the worker has, and nothing it does not have."""

from __future__ import annotations

import re
from dataclasses import fields

from pixflow.settings import Settings
from tests.helpers import REPO

# `comfyui_url` is the one-backend shorthand for `backends` (docs/pool.md): a setting of the file, not a field.
SHORTHANDS = {"comfyui_url"}


def documented() -> set[str]:
    text = (REPO / "README.md").read_text()
    start = text.index("| setting", text.index("### Settings"))
    table = text[start : text.index("\n\n", start)]
    names: set[str] = set()
    for row in table.splitlines()[2:]:  # past the header and its rule
        first_cell = row.split("|")[1]
        names.update(re.findall(r"`([a-z_]+)`", first_cell))
    return names


def test_every_setting_is_in_the_readme_table_and_only_those():
    actual = {f.name for f in fields(Settings)}
    in_readme = documented()
    assert actual - in_readme == set(), "settings missing from the README's table"
    assert in_readme - actual - SHORTHANDS == set(), "the README's table names settings the worker does not have"
