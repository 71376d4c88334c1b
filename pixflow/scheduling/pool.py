"""The pool at run time: drain, disable and enable a backend, reload `backends:` from the settings, keep each
backend's capabilities fresh, and publish each backend's figures when they change."""

from __future__ import annotations

import logging
import threading
from typing import Any

from pixflow.comfy.backend import LoopLink
from pixflow.errors import ErrorCode, RequestError
from pixflow.jobs.dispatch import Phase
from pixflow.scheduling.backends import BackendState, Mode, Standing, make_backend
from pixflow.scheduling.context import Shared
from pixflow.scheduling.moves import Moves
from pixflow.settings import BackendSettings
from pixflow.vocabulary import TOPIC_BACKEND

log = logging.getLogger(__name__)


class PoolControl:
    def __init__(self, shared: Shared, moves: Moves, link: LoopLink) -> None:
        self._shared = shared
        self._moves = moves
        self._link = link  # for the backends it adds
        self._published: dict[str, dict[str, Any]] = {}
        self._replacements: dict[str, BackendSettings] = {}  # retiring backends to bring back with new settings

    def state(self, name: object) -> BackendState:
        if not isinstance(name, str) or name not in self._shared.backends:
            known = ", ".join(sorted(self._shared.backends))
            raise RequestError(ErrorCode.NOT_FOUND, f"no backend named {name!r}; known: {known}")
        return self._shared.backends[name]

    def set_mode(self, name: object, mode: Mode) -> BackendState:
        state = self.state(name)
        if state.mode != mode:
            log.info("backend %s: %s -> %s", state.name, state.mode.value, mode.value)
        state.mode = mode
        if mode == Mode.DISABLED:
            self._moves.withdraw_all(state)
        self.publish(state)
        return state

    # Reloading `backends:` (SIGHUP).
    def reload(self, wanted: tuple[BackendSettings, ...]) -> None:
        backends = self._shared.backends
        names = {b.name for b in wanted}
        for settings in wanted:
            state = backends.get(settings.name)
            if state is None:
                self._add(settings)
            elif settings.url.rstrip("/") != state.backend.url:
                self._retire(state, replacement=settings)
            else:  # labels and limits change in place
                state.settings = settings
                state.max_inflight = settings.inflight_limit(self._shared.settings.max_inflight)
                state.retiring = False
                self._replacements.pop(settings.name, None)
                self.publish(state)
        for name, state in list(backends.items()):
            if name not in names:
                self._retire(state, replacement=None)
        self.retire_drained()

    def _add(self, settings: BackendSettings) -> None:
        state = make_backend(self._shared.settings, settings, self._link)
        self._shared.backends[settings.name] = state
        state.backend.start()
        log.info("backend %s added (%s)", settings.name, settings.url)
        self.publish(state)

    def _retire(self, state: BackendState, replacement: BackendSettings | None) -> None:
        if not state.retiring:
            log.info("backend %s is leaving the pool: no new prompts; what it holds runs to the end", state.name)
        state.retiring = True
        if replacement is not None:
            self._replacements[state.name] = replacement
        self.publish(state)

    def retire_drained(self) -> None:
        """Drop retiring backends that hold nothing any more (called on every stats tick)."""
        backends = self._shared.backends
        for name, state in list(backends.items()):
            if not state.retiring or self._shared.book.inflight(name) or self._fetching_on(name):
                continue
            del backends[name]
            self._published.pop(name, None)
            state.backend.close()
            # Joining its threads takes up to a second: never on the loop's thread.
            threading.Thread(target=state.backend.join, name=f"stop-{name}", daemon=True).start()
            self._shared.publisher.publish(
                f"{TOPIC_BACKEND}{name}", {**state.describe(0), "state": Standing.REMOVED.value}
            )
            log.info("backend %s removed from the pool", name)
            replacement = self._replacements.pop(name, None)
            if replacement is not None:
                self._add(replacement)

    def _fetching_on(self, name: str) -> bool:
        return any(job.backend == name and job.phase == Phase.FETCHING for job in self._shared.registry.live())

    # Keeping figures fresh.
    def refresh_capabilities(self) -> None:
        for state in self._shared.backends.values():
            if state.up:
                state.backend.refresh_info()

    def publish(self, state: BackendState) -> None:
        figures = state.describe(self._shared.book.inflight(state.name))
        self._published[state.name] = figures
        self._shared.publisher.publish(f"{TOPIC_BACKEND}{state.name}", figures)

    def publish_changes(self) -> None:
        """`backend.<name>` for each backend whose figures changed since it was last published."""
        for state in self._shared.backends.values():
            if state.describe(self._shared.book.inflight(state.name)) != self._published.get(state.name):
                self.publish(state)
