"""systemd's notify protocol (sd_notify(3)) in a few lines of stdlib: READY=1, WATCHDOG=1, STOPPING=1.

Under `Type=notify` systemd sets $NOTIFY_SOCKET to a unix datagram socket and waits for READY=1; with
`WatchdogSec=` it also sets $WATCHDOG_USEC and restarts the service when no WATCHDOG=1 arrives in that time.
Outside systemd both are unset and every call here does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: its address starts with a NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        watchdog_pid = env.get("WATCHDOG_PID", "")
        mine = not watchdog_pid or watchdog_pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, state: str) -> bool:
        """Send one state line; False (logged) if systemd's socket is not there. Never raises, never blocks."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(state.encode(), self._address)
            return True
        except OSError as e:
            log.warning("cannot notify systemd (%s) of %s: %s", self._address.lstrip("\0"), state, e)
            return False

    def ready(self) -> None:
        self.notify("READY=1\nSTATUS=serving")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1\nSTATUS=draining: finishing the jobs ComfyUI has")
