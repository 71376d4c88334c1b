"""The top line: is the worker there, which one, and since when."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from pixflow_monitor.format import age


class ConnectionBar(Static):
    _shown: object = None

    DEFAULT_CSS = """
    ConnectionBar { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    ConnectionBar.-down { background: $error; color: $text; text-style: bold; }
    ConnectionBar.-connecting { background: $warning 40%; }
    """

    def show(
        self,
        state: str,
        req_addr: str,
        pub_addr: str,
        worker: dict[str, Any] | None,
        reason: str,
        paused: bool | None,
        now_ms: int,
        last_contact_ms: int | None,
    ) -> None:
        shown = (state, req_addr, pub_addr, worker, reason, paused, now_ms // 1000, last_contact_ms)
        if shown == self._shown:
            return
        self._shown = shown
        self.set_class(state == "down", "-down")
        self.set_class(state == "connecting", "-connecting")
        if state == "down":
            since = f"last answer {age(now_ms - last_contact_ms)} ago" if last_contact_ms else "it never answered"
            text = Text(
                f"✖ DISCONNECTED: the worker at {req_addr} is not answering ({reason}); {since}.\n"
                "  Reconnecting by itself. Everything below is as it was before."
            )
        elif state == "connecting":
            text = Text(f"… connecting to the worker at {req_addr} (events from {pub_addr})")
        else:
            worker = worker or {}
            uptime = age(now_ms - worker["started_at"]) if worker.get("started_at") else "?"
            protocol = worker.get("protocol")
            text = Text.assemble(
                ("● connected", "bold green"),
                f"  pixflow {worker.get('version', '?')}  protocol v{protocol if protocol is not None else '?'}",
                f"  worker up {uptime}  {req_addr}  {pub_addr}",
            )
            if paused:
                text.append("  ⏸ DISPATCH PAUSED (u resumes)", "bold yellow")
            if protocol not in (None, 1):
                text.append(f"  (this monitor speaks v1, the worker v{protocol})", "bold red")
        self.update(text)
