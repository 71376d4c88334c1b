"""A job's whole life in one table: every event that can happen to a job, and what it does. Pure: no I/O.

A job has two coordinates. Its protocol *state* (vocabulary.JobState: queued, a stage, done, failed, cancelled) is
what clients see. Its *phase* (jobs/dispatch.py: waiting, submitted, withdrawing, reconciling, succeeded, fetching,
ended) is where it is between pixflow and its backend, which the state cannot tell. Most decisions depend on both
and on a few facts (was a cancel asked, has ComfyUI started it, were events missed), so both live in one table:
one row says, for an event in a set of phases and under an optional condition, the state and phase the job moves
to, the failure it ends with, and the effects that follow (store, publish, submit, cancel, withdraw, ask where,
download, send again). `decide` picks the first row that fits; the shell (scheduling/life_shell.py) writes the
job's fields, carries out the effects (commands to backends leave after the turn's commit, through the outbox),
and is the only writer of a job's fields.

Rules the table keeps (tests/test_life.py checks them on the table itself):

* A job starts `queued` and `waiting`. While ComfyUI executes it, it is in the stage of the node that runs now
  (comfy/nodes.py); cached nodes send no events, so stages may be skipped. A move to an earlier stage starts a new
  *pass* (`Job.passes` + 1); entering the stage it is in is no move and publishes nothing.
* `done`, `failed` and `cancelled` are final, and the phase is then `ended`: nothing happens to an ended job.
* `queued` is re-entered only when the job is taken back to be sent again (ComfyUI lost the prompt, it was asked
  out of a backend's queue, its backend is gone, or the POST failed on our side).
* Every (event, phase) of a live job has a row: a stray event is a row that does nothing, and says why.

Why one table and not `transitions` with parallel states: the two machines are not independent regions (a cancel,
a lost prompt or a prompt's end does different things in each phase, and most rows move both coordinates at once),
so parallel states would need conditions reaching across regions, and the table is the documentation a reader
wants anyway. It costs a dict lookup per event; `transitions` cost 14 % of the loop (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pixflow.errors import FailureCode
from pixflow.jobs.dispatch import ON_BACKEND, Phase
from pixflow.jobs.life_terms import Effect, Event, Facts, Rule, When
from pixflow.vocabulary import STAGES, TERMINAL, JobState

__all__ = ["TABLE", "Effect", "Event", "Facts", "NoRule", "Rule", "When", "decide", "phase_moves", "state_after"]


LIVE: frozenset[Phase] = frozenset(Phase) - {Phase.ENDED}
SENT: frozenset[Phase] = frozenset({Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING})  # may be sent again
FOLLOWED: frozenset[Phase] = frozenset({Phase.SUBMITTED, Phase.WITHDRAWING, Phase.SUCCEEDED, Phase.RECONCILING})
NOT_FOLLOWED: frozenset[Phase] = LIVE - FOLLOWED
TAKE_BACK: tuple[Effect, ...] = (Effect.RESTART, Effect.REQUEUE, Effect.SAVE)


def _row(event: Event, phases: Iterable[Phase], why: str, **move: Any) -> Rule:
    return Rule(event, frozenset(phases), why, **move)


def _ignore(events: Iterable[Event], phases: Iterable[Phase], why: str) -> list[Rule]:
    return [_row(event, phases, why) for event in events]


def _fail(event: Event, phases: Iterable[Phase], code: FailureCode, why: str, *effects: Effect, **move: Any) -> Rule:
    return _row(event, phases, why, state=JobState.FAILED, failure=code, effects=effects, **move)


def _cancel(event: Event, phases: Iterable[Phase], why: str, *effects: Effect, **move: Any) -> Rule:
    return _row(event, phases, why, state=JobState.CANCELLED, effects=effects, **move)


def _take_back(event: Event, phases: Iterable[Phase], why: str, *effects: Effect, **move: Any) -> Rule:
    return _row(event, phases, why, phase=Phase.WAITING, state=JobState.QUEUED, effects=TAKE_BACK + effects, **move)


W, S, WD, R, SU, F = (Phase.WAITING, Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING, Phase.SUCCEEDED,
                      Phase.FETCHING)  # fmt: skip
COMFY_EVENTS = (Event.STARTED, Event.STAGE, Event.PROGRESS, Event.OUTPUT, Event.PREVIEW, Event.SUCCEEDED,
                Event.ERRORED, Event.INTERRUPTED, Event.PROMPT_ENDED)  # fmt: skip
ANSWERS = (Event.FOUND_DONE, Event.FOUND_ERROR, Event.FOUND_INTERRUPTED, Event.FOUND_NO_OUTCOME,
           Event.FOUND_WAITING, Event.FOUND_NOTHING, Event.LOOKUP_FAILED)  # fmt: skip
NOT_ASKED = "not being asked about: its events reached us meanwhile, and they are the better news"

# fmt: off
TABLE: tuple[Rule, ...] = (
    # Placement and the POST.
    _row(Event.PLACED, {W}, "handed to a backend, durably before the POST: after a crash it is reconciled, not "
         "sent blindly again", phase=S, effects=(Effect.COUNT_ATTEMPT, Effect.SAVE, Effect.SUBMIT)),
    *_ignore([Event.PLACED], LIVE - {W}, "only a job in pixflow's own queue is sent"),
    _row(Event.ACCEPTED, LIVE, "its events follow"),
    _fail(Event.REJECTED, LIVE, FailureCode.VALIDATION_ERROR, "ComfyUI refused the prompt: the node errors say why"),
    _row(Event.SEND_FAILED, LIVE, "its events arrived meanwhile: ComfyUI has the prompt after all",
         when=When.STARTED),
    _cancel(Event.SEND_FAILED, SENT, "the cancel asked for can be done: no backend has it", when=When.CANCEL_ASKED),
    _take_back(Event.SEND_FAILED, SENT, "back to the queue, ahead of later jobs of its priority; the backend rests",
               Effect.REST_BACKEND),
    *_ignore([Event.SEND_FAILED], {W, SU, F}, "not on a backend, or ComfyUI ran it"),
    _fail(Event.UNRUNNABLE, {W}, FailureCode.NO_CAPABLE_BACKEND, "no backend of the pool has what it needs; one "
          "added or a model installed later needs a new job"),
    *_ignore([Event.UNRUNNABLE], LIVE - {W}, "it is on a backend already"),
    # The backend's WebSocket.
    _row(Event.SEEN, {W}, "a POST that failed on our side (a timeout) still reached ComfyUI: it runs there now",
         phase=S, effects=(Effect.SAVE,)),
    _row(Event.SEEN, {R}, "its events reach us again: they tell more than the answer to come", phase=S),
    _row(Event.SEEN, {S, WD, SU}, "followed live"),
    _row(Event.SEEN, {F}, "ComfyUI is done with its prompt: the download decides the rest"),
    _row(Event.STARTED, FOLLOWED, "ComfyUI started it", effects=(Effect.NOTE_START,)),
    _row(Event.STAGE, FOLLOWED, "a node of that stage runs (a move to an earlier stage is a new pass)",
         to_stage=True),
    _row(Event.PROGRESS, FOLLOWED, "a sampler step", effects=(Effect.NOTE_PROGRESS, Effect.TOUCH)),
    _row(Event.OUTPUT, FOLLOWED, "an output node's images: with every event seen, they spare a GET /history",
         effects=(Effect.KEEP_OUTPUT,)),
    _row(Event.PREVIEW, FOLLOWED, "a preview the client asked for", when=When.PREVIEWS_WANTED,
         effects=(Effect.PREVIEW,)),
    _row(Event.PREVIEW, FOLLOWED, "the client did not ask for previews"),
    _row(Event.SUCCEEDED, FOLLOWED, "ComfyUI produced the images: the end of the prompt is due", phase=SU),
    _fail(Event.ERRORED, FOLLOWED, FailureCode.EXECUTION_ERROR, "a node raised"),
    _cancel(Event.INTERRUPTED, FOLLOWED, "interrupted at pixflow's request", when=When.CANCEL_ASKED),
    _fail(Event.INTERRUPTED, FOLLOWED, FailureCode.INTERRUPTED, "interrupted, not at pixflow's request"),
    _row(Event.PROMPT_ENDED, {SU}, "ComfyUI is done: download the images (its slot is free again)", phase=F,
         effects=(Effect.FETCH,)),
    _row(Event.PROMPT_ENDED, {S}, "its success may be among the events missed since it was sent",
         when=When.OUTPUTS_MISSED, phase=R, effects=(Effect.ASK,)),
    _fail(Event.PROMPT_ENDED, FOLLOWED - {SU}, FailureCode.NO_OUTCOME, "ComfyUI ended the prompt without success or "
          "error"),
    *_ignore(COMFY_EVENTS, NOT_FOLLOWED, "not followed in this phase (waiting: never after SEEN; fetching: ComfyUI "
             "is done with it)"),
    # Asking where it is.
    _row(Event.ASK_WHERE, ON_BACKEND, "its events may have been missed: outputs seen live are no longer trusted",
         phase=R, effects=(Effect.ASK,)),
    *_ignore([Event.ASK_WHERE], {W, F}, "no backend has its prompt"),
    _row(Event.LOOK_AGAIN, {R}, "still not followed live", effects=(Effect.ASK,)),
    *_ignore([Event.LOOK_AGAIN], LIVE - {R}, NOT_ASKED),
    _row(Event.FOUND_DONE, {R}, "the history entry is the whole truth: download its images", phase=F,
         effects=(Effect.FETCH,)),
    _fail(Event.FOUND_ERROR, {R}, FailureCode.EXECUTION_ERROR, "a node raised"),
    _cancel(Event.FOUND_INTERRUPTED, {R}, "interrupted at pixflow's request", when=When.CANCEL_ASKED),
    _fail(Event.FOUND_INTERRUPTED, {R}, FailureCode.INTERRUPTED, "interrupted, not at pixflow's request"),
    _fail(Event.FOUND_NO_OUTCOME, {R}, FailureCode.NO_OUTCOME, "ComfyUI ended the prompt without success or error"),
    _row(Event.FOUND_WAITING, {R}, "its events go to a socket we no longer have: watch it through the HTTP API",
         effects=(Effect.LOOK_AGAIN_LATER,)),
    _row(Event.LOOKUP_FAILED, {R}, "ComfyUI could not be asked: ask again shortly",
         effects=(Effect.LOOK_AGAIN_LATER,)),
    _cancel(Event.FOUND_NOTHING, {R}, "lost, and a cancel was asked: nothing is left to do", when=When.CANCEL_ASKED),
    _take_back(Event.FOUND_NOTHING, {R}, "ComfyUI lost it: sent again", when=When.ATTEMPTS_LEFT),
    _fail(Event.FOUND_NOTHING, {R}, FailureCode.LOST, "lost `max_attempts` times: giving up"),
    *_ignore(ANSWERS, LIVE - {R}, NOT_ASKED),
    # Cancelling.
    _cancel(Event.CANCEL_ASKED, {W}, "no backend has it: cancelled on the spot", Effect.MARK_CANCEL),
    _row(Event.CANCEL_ASKED, {SU, F}, "too late: ComfyUI produced the images, and the job ends done",
         effects=(Effect.MARK_CANCEL, Effect.SAVE)),
    _cancel(Event.CANCEL_ASKED, SENT, "nothing can confirm it now: its copy is removed when the backend is back",
            Effect.MARK_CANCEL, Effect.DISCARD_COPY, when=When.BACKEND_DOWN),
    _row(Event.CANCEL_ASKED, SENT, "removed from ComfyUI's queue or interrupted; its events (or the answer) end it",
         effects=(Effect.MARK_CANCEL, Effect.SAVE, Effect.CANCEL_PROMPT, Effect.ESCALATE_LATER)),
    _row(Event.ESCALATE, SENT, "no confirmation in time and ours runs there now: a plain interrupt also reaches a "
         "ComfyUI that ignores prompt ids", when=When.RUNNING_THERE, effects=(Effect.INTERRUPT_ALL,)),
    _row(Event.ESCALATE, {R}, "where it is is unknown: remove or interrupt it by its id only, never another job's",
         effects=(Effect.DISCARD_NOW,)),
    *_ignore([Event.ESCALATE], LIVE - {R}, "confirmed meanwhile, or it will be by its own events"),
    _row(Event.LEFT_QUEUE, {S, WD}, "it started: it ends through its own events (interrupted)", when=When.STARTED),
    _cancel(Event.LEFT_QUEUE, {S, WD}, "gone from ComfyUI's queue before it started: nothing will report on it"),
    *_ignore([Event.LEFT_QUEUE], LIVE - {S, WD}, "its answer or its events end it"),
    _row(Event.STILL_QUEUED, LIVE, "its events, or the escalation, end it"),
    # Moving between backends.
    _row(Event.WITHDRAW, {S}, "parked in a busy backend's queue while another could start it sooner", phase=WD,
         effects=(Effect.WITHDRAW,)),
    *_ignore([Event.WITHDRAW], LIVE - {S}, "only a prompt followed live is asked out of a queue"),
    _cancel(Event.WITHDRAWN, {WD}, "out of the queue, and a cancel was asked", when=When.CANCEL_ASKED),
    _take_back(Event.WITHDRAWN, {WD}, "out of the busy backend's queue: placed again, to run sooner elsewhere"),
    _row(Event.KEPT, {WD}, "it had started, or ComfyUI could not say: it stays", phase=S),
    *_ignore([Event.WITHDRAWN, Event.KEPT], LIVE - {WD}, "its events said meanwhile that it started, or it was "
             "reconciled: that is the better news"),
    _cancel(Event.BACKEND_GONE, ON_BACKEND, "its backend is gone and a cancel was asked", Effect.DISCARD_COPY,
            when=When.CANCEL_ASKED),
    _take_back(Event.BACKEND_GONE, ON_BACKEND, "failover: sent to another backend from the start under a new prompt "
               "id; the copy left behind is removed when its backend is back", Effect.DISCARD_COPY, Effect.REPROMPT),
    *_ignore([Event.BACKEND_GONE], {W, F}, "no backend holds its prompt"),
    # Outputs.
    _row(Event.SAVED, {F}, "its images and sidecar are written", state=JobState.DONE,
         effects=(Effect.NOTE_OUTPUTS,)),
    _fail(Event.SAVE_FAILED, {F}, FailureCode.OUTPUT_FAILED, "the images could not be downloaded or written"),
    *_ignore([Event.SAVED, Event.SAVE_FAILED], LIVE - {F}, "not being downloaded"),
    # Bugs.
    _fail(Event.INTERNAL, ON_BACKEND, FailureCode.INTERNAL, "a bug in pixflow: its prompt is cancelled, so that it "
          "takes no GPU", Effect.CANCEL_PROMPT),
    _fail(Event.INTERNAL, {W, F}, FailureCode.INTERNAL, "a bug in pixflow"),
)
# fmt: on

ENDED_RULE = Rule(Event.INTERNAL, frozenset({Phase.ENDED}), "ended: nothing happens to an ended job any more")


def _index(table: Iterable[Rule]) -> dict[tuple[Event, Phase], tuple[Rule, ...]]:
    index: dict[tuple[Event, Phase], list[Rule]] = {}
    for rule in table:
        for phase in rule.phases:
            index.setdefault((rule.event, phase), []).append(rule)
    return {key: tuple(rules) for key, rules in index.items()}


_INDEX = _index(TABLE)


class NoRule(LookupError):
    """An (event, phase) the table has no row for: a gap in the table, which tests/test_life.py rules out."""


def decide(event: Event, phase: Phase, facts: Callable[[], Facts]) -> Rule:
    """The first row for the event in this phase whose condition holds; `facts` is read only if a row has one."""
    if phase == Phase.ENDED:
        return ENDED_RULE
    rules = _INDEX.get((event, phase), ())
    known: Facts | None = None
    for rule in rules:
        if rule.when == When.ALWAYS:
            return rule
        known = known or facts()
        if known.hold(rule.when):
            return rule
    raise NoRule(f"no row for {event} in phase {phase}")


def state_after(current: JobState, target: JobState) -> JobState | None:
    """The state a row's target moves the job to, or None when it is no move (the stage it is in, or the queue
    it is in). A move out of a final state is a bug."""
    if current in TERMINAL:
        raise NoRule(f"a move from the final state {current} to {target}")
    return None if target == current else target


def new_pass(source: JobState, dest: JobState) -> bool:
    """A move back to an earlier stage (multi-pass workflows: a second KSampler, a VAEEncode after a decode)."""
    return source in STAGES and dest in STAGES and STAGES.index(dest) < STAGES.index(source)


def phase_moves(table: Iterable[Rule] = TABLE) -> dict[Phase, frozenset[Phase]]:
    """Every phase move the table makes (a final state ends the phase): the diagram in jobs/dispatch.py."""
    moves: dict[Phase, set[Phase]] = {phase: set() for phase in Phase}
    for rule in table:
        ends = rule.state in TERMINAL
        dest = Phase.ENDED if ends else rule.phase
        for source in rule.phases:
            if dest is not None and dest != source:
                moves[source].add(dest)
    return {phase: frozenset(dests) for phase, dests in moves.items()}
