"""docs/sprites.md's tables of the steps' parameters and the shipped palettes say what the code declares."""

from __future__ import annotations

import re

from pixflow.sprites import PALETTES, STEP_DESCRIPTIONS, STEPS, StepParam
from tests.helpers import REPO

DOC = REPO / "docs" / "sprites.md"


def _allowed(param: StepParam) -> str:
    if param.choices:
        return ", ".join(f"`{choice}`" for choice in param.choices)
    if param.minimum is not None and param.maximum is not None:
        return f"{param.minimum:g} to {param.maximum:g}"
    return "true, false" if param.kind == "BOOLEAN" else ""


def steps_table() -> str:
    lines = ["| parameter | kind | default | allowed | what |", "| --- | --- | --- | --- | --- |"]
    for step, params in STEPS.items():
        lines.append(f"| **{step}** | | | | {STEP_DESCRIPTIONS[step]} |")
        for param in params:
            default = str(param.default).lower() if isinstance(param.default, bool) else param.default
            lines.append(f"| `{param.key}` | {param.kind} | `{default}` | {_allowed(param)} | {param.description} |")
    return "\n".join(lines)


def palettes_table() -> str:
    lines = ["| name | colours | source |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {len(p.colors)} | {p.source} |" for name, p in PALETTES.items()]
    return "\n".join(lines)


def _between(text: str, marker: str) -> str:
    found = re.search(rf"<!-- {marker} -->\n(.*?)\n?<!-- /{marker} -->", text, re.S)
    assert found, f"docs/sprites.md has no <!-- {marker} --> block"
    return found.group(1).strip()


def test_the_steps_table_is_the_steps_declaration() -> None:
    assert _between(DOC.read_text(), "sprite-steps") == steps_table(), "regenerate: python -m tests.test_sprites_docs"


def test_the_palettes_table_is_the_shipped_palettes() -> None:
    assert _between(DOC.read_text(), "sprite-palettes") == palettes_table(), (
        "regenerate: python -m tests.test_sprites_docs"
    )


def main() -> None:
    """Rewrite both tables in docs/sprites.md."""
    text = DOC.read_text()
    for marker, table in (("sprite-steps", steps_table()), ("sprite-palettes", palettes_table())):
        text = re.sub(
            rf"<!-- {marker} -->\n.*?<!-- /{marker} -->",
            f"<!-- {marker} -->\n{table}\n<!-- /{marker} -->",
            text,
            flags=re.S,
        )
    DOC.write_text(text)


if __name__ == "__main__":
    main()
