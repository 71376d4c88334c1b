"""Handing waiting jobs to the backends where they finish first, and taking them back when a backend cannot keep them.

Jobs are visited in priority order, then arrival; each goes only to a backend that can run it (its node types
and model files, from the backend's /object_info) and, among those, to the free one where it would finish
first counting what is queued there and a model switch (choice.py). A job that suits that backend less than
some waiting job could (a model switch, or a checkpoint the split of the waiting work gives to other backends:
fits.py, split.py) holds it while the later jobs of its own priority are visited; one that suits it better takes
it. A job no free backend suits keeps its place and says why in `wait_reason`; a later job may be placed before
it, never one of a lower priority ahead of a placeable higher one.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

from pixflow.comfy.capabilities import Requirements, describe_missing
from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.jobs.life import Event
from pixflow.jobs.registry import Visit
from pixflow.scheduling import job_log
from pixflow.scheduling.backends import BackendState
from pixflow.scheduling.choice import Option, choose, remaining, run_seconds, switch_seconds, wall_ms
from pixflow.scheduling.context import Shared
from pixflow.scheduling.fits import Fits
from pixflow.scheduling.life_shell import Given

log = logging.getLogger(__name__)

# A job held back so that its backend can take a job that suits it better (no model switch, or one the split
# gives it) is held at most this long after it arrived; then it takes the backend like any job (none starves).
MAX_DEFER_SECONDS = 30.0
LOOKAHEAD = 512  # jobs visited, once every free backend is held, in search of a better one for it
MAX_ROUNDS = 4  # a job displaced from its held backend is offered the others again, in a new round
PAUSED_REASON = "the worker is paused: no job leaves its queue until `resume`"


@dataclass(frozen=True)
class Hold:
    job: Job
    fit: int


def _betters(hold: Hold, job: Job, fit: int) -> bool:
    """A later job takes a held backend only if it has the held job's priority and suits the backend better."""
    return job.params.priority == hold.job.params.priority and fit > hold.fit


class Placement:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    # Placing.
    def dispatch(self) -> None:
        for _ in range(MAX_ROUNDS):
            if not self._round():
                return

    def _round(self) -> bool:
        """One visit of the waiting jobs; True if a held job lost its backend and should be offered again."""
        shared = self._shared
        now = time.monotonic()
        pool = list(shared.backends.values())
        free = {b.name: b.max_inflight - shared.book.inflight(b.name) for b in pool if b.accepts_prompts(now)}
        free = {name: slots for name, slots in free.items() if slots > 0}
        if not free:
            return False
        now_ms = wall_ms()
        backlog = {b.name: self._backlog(b, pool, now_ms) for b in pool}
        fits = Fits(shared.registry.waiting_by_model(), pool, backlog)
        held: dict[str, Hold] = {}  # backend -> the job it takes unless a job of that priority suits it better
        displaced = False
        looked = 0

        def visit(job: Job) -> Visit:
            nonlocal displaced, looked
            if not free:
                return Visit.STOP
            if held and held.keys() >= free.keys():
                looked += 1
                if looked > LOOKAHEAD or job.params.priority < min(h.job.params.priority for h in held.values()):
                    return Visit.STOP  # only a job of a held job's priority may take its backend
            options = self._options(job, pool, free, backlog)
            if not options and self._unrunnable(job, pool):
                return Visit.TAKEN  # failed: no backend of the pool has what it needs
            options = [o for o in options if o.name not in held or _betters(held[o.name], job, fits.fit(o, job))]
            name = choose(options) if options else None
            if name is None:
                if options:
                    # It waits for a busy backend: count it there, so that later jobs see that backend as busier
                    # and go elsewhere once waiting for it would cost more than a switch on an idle one.
                    best = min(options, key=Option.rank)
                    backlog[best.name] += best.switch + best.run
                return Visit.SKIP
            option = next(o for o in options if o.name == name)
            fit = fits.fit(option, job)
            loser = held.pop(name, None)
            if fit < fits.best(shared.backends[name]) and self._may_defer(job):
                held[name] = Hold(job, fit)  # a later job of its priority may suit this backend better
                outcome = Visit.SKIP
            else:
                self._place(job, option, free, backlog, fits)
                outcome = Visit.TAKEN
            if loser is not None and not self._offer_elsewhere(loser.job, pool, free, backlog, fits, held):
                displaced = True  # it stays queued: the next round offers it again
            return outcome

        shared.registry.visit_waiting(visit)
        for name, hold in held.items():
            if name in free and hold.job.phase == Phase.WAITING:
                options = [o for o in self._options(hold.job, pool, free, backlog) if o.name == name]
                if options:
                    shared.registry.taken(hold.job)
                    self._place(hold.job, options[0], free, backlog, fits)
        return displaced

    def _offer_elsewhere(
        self,
        job: Job,
        pool: list[BackendState],
        free: dict[str, int],
        backlog: dict[str, float],
        fits: Fits,
        held: dict[str, Hold],
    ) -> bool:
        """A held job that lost its backend to a better-suited one takes another free backend now, before any job
        of a lower priority later in this visit could: True if it was placed."""
        options = [o for o in self._options(job, pool, free, backlog) if o.name not in held]
        name = choose(options) if options else None
        if name is None:
            return False
        self._shared.registry.taken(job)
        self._place(job, next(o for o in options if o.name == name), free, backlog, fits)
        return True

    def explain_waiting(self, paused: bool, limit: int = 1000) -> None:
        """Give the first `limit` waiting jobs their current `wait_reason` (the stats tick calls this): a turn of
        `dispatch` only visits jobs while some backend has a free slot, and none while the worker is paused."""
        pool = list(self._shared.backends.values())
        backlog = {b.name: 0.0 for b in pool}
        seen = 0

        def visit(job: Job) -> Visit:
            nonlocal seen
            seen += 1
            if seen > limit:
                return Visit.STOP
            if paused:
                job.wait_reason = PAUSED_REASON
                return Visit.SKIP
            if not self._options(job, pool, {}, backlog) and self._unrunnable(job, pool):
                return Visit.TAKEN
            return Visit.SKIP

        self._shared.registry.visit_waiting(visit)

    def _unrunnable(self, job: Job, pool: list[BackendState]) -> bool:
        """Every backend has said what it offers and none has what this job needs: it fails rather than wait for
        ever (a backend added later, or a model installed later, needs a new job)."""
        offers = [(b.name, b.capabilities) for b in pool]
        known = [(name, caps) for name, caps in offers if caps is not None]
        if len(known) < len(offers) or any(caps.can_run(job.needs) for _, caps in known):
            return False
        reason = describe_missing([(name, caps.missing(job.needs)) for name, caps in known])
        self._shared.life.fire(job, Event.UNRUNNABLE, Given(reason=reason))
        return True

    def _may_defer(self, job: Job) -> bool:
        return (wall_ms() - job.created_at) / 1000 < MAX_DEFER_SECONDS

    def _place(self, job: Job, option: Option, free: dict[str, int], backlog: dict[str, float], fits: Fits) -> None:
        fits.taken(job.needs.checkpoint)
        backlog[option.name] += option.switch + option.run
        free[option.name] -= 1
        if not free[option.name]:
            del free[option.name]
        state = self._shared.backends[option.name]
        self._shared.life.guard(job, "dispatch", functools.partial(self._submit, state, job))

    def _options(
        self, job: Job, pool: list[BackendState], free: dict[str, int], backlog: dict[str, float]
    ) -> list[Option]:
        needs = job.needs
        capable = [b for b in pool if b.capabilities is not None and b.capabilities.can_run(needs)]
        if not capable:
            lacking = [(b.name, b.capabilities.missing(needs)) for b in pool if b.capabilities is not None]
            unknown = [b.name for b in pool if b.capabilities is None]
            job.wait_reason = describe_missing(lacking) + (f" (not heard from: {', '.join(unknown)})" * bool(unknown))
            return []
        usable = [b for b in capable if b.taking_jobs]
        if not usable:
            states = ", ".join(f"{b.name} {b.standing.value}" for b in capable)
            job.wait_reason = f"every backend that can run it is down or not taking jobs: {states}"
            return []
        options = [self.option(b, needs, b.name in free, backlog[b.name], pool) for b in usable]
        if not any(o.free for o in options):
            job.wait_reason = f"waiting for a free slot on {', '.join(b.name for b in usable)}"
        else:
            job.wait_reason = "waiting for a backend that will run it sooner than a free one"
        return options

    @staticmethod
    def option(
        state: BackendState, needs: Requirements, free: bool, backlog: float, pool: list[BackendState]
    ) -> Option:
        """How a job would fare on this backend, behind `backlog` seconds of prompts already there."""
        model = needs.checkpoint
        switch = 0.0
        if model is not None and state.loaded_model not in (None, model):
            switch = switch_seconds(state)
        return Option(
            state.name,
            free,
            backlog,
            switch,
            run_seconds(state, pool),
            model is not None and state.loaded_model == model,
            state.last_used,
        )

    def _backlog(self, state: BackendState, pool: list[BackendState], now_ms: int) -> float:
        """Seconds until what is already on this backend is done: the running prompt's rest, then the queue's."""
        held = self._shared.book.inflight(state.name)
        rest = self.running_rest(state, pool, now_ms)
        run = run_seconds(state, pool)
        return rest + run * (held - 1) if rest else run * held

    def running_rest(self, state: BackendState, pool: list[BackendState], now_ms: int) -> float:
        """Seconds left of the prompt this backend runs now (0 when it runs none of ours)."""
        job = self._shared.registry.by_prompt(state.running_prompt)
        if job is None or job.started_at is None:
            return 0.0
        return remaining(run_seconds(state, pool), job.started_at, now_ms)

    def _submit(self, state: BackendState, job: Job) -> None:
        model = job.needs.checkpoint
        loads_model = model is not None and state.loaded_model != model  # its run teaches the switch time
        if loads_model and state.loaded_model is not None:
            state.model_switches += 1
        if model is not None:
            state.loaded_model = model
        state.last_used = time.monotonic()
        self._shared.life.handle(job, Event.PLACED, Given(on=state, loads_model=loads_model))
        job_log.placed(job, state.name)
