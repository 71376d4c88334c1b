"""The words the table of a job's life (jobs/life.py) is written in: its events, its effects, the conditions a
row may add, and the row itself. Values only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pixflow.errors import FailureCode
from pixflow.jobs.dispatch import Phase
from pixflow.vocabulary import JobState


class Event(StrEnum):
    """What happens to a job. The part of the scheduler that hears of it (a message, a request, a timer) names it."""

    # Placement and the POST (scheduling/placement.py).
    PLACED = "placed"  # placement chose a backend for it
    ACCEPTED = "accepted"  # ComfyUI took the POST
    REJECTED = "rejected"  # ComfyUI refused the prompt (HTTP 400)
    SEND_FAILED = "send_failed"  # the POST failed on our side (timeout, connection): it may or may not be there
    UNRUNNABLE = "unrunnable"  # every backend said what it offers, and none has what the job needs
    # The backend's WebSocket (scheduling/following.py); SEEN comes first, before the event itself.
    SEEN = "seen"  # an event of its prompt arrived
    STARTED = "started"  # execution_start
    STAGE = "stage"  # executing a node of a stage
    PROGRESS = "progress"  # a sampler step
    OUTPUT = "output"  # executed: an output node's images
    PREVIEW = "preview"  # a preview image
    SUCCEEDED = "succeeded"  # execution_success
    ERRORED = "errored"  # execution_error
    INTERRUPTED = "interrupted"  # execution_interrupted
    PROMPT_ENDED = "prompt_ended"  # executing with node null: ComfyUI is done with the prompt
    # Asking ComfyUI where the prompt is, when events may have been missed (scheduling/reconcile.py).
    ASK_WHERE = "ask_where"  # a reconnect or a silent backend
    LOOK_AGAIN = "look_again"  # the timer after a "still there" answer
    FOUND_DONE = "found_done"  # /history: succeeded
    FOUND_ERROR = "found_error"  # /history: a node raised
    FOUND_INTERRUPTED = "found_interrupted"  # /history: interrupted
    FOUND_NO_OUTCOME = "found_no_outcome"  # /history: ended with neither
    FOUND_WAITING = "found_waiting"  # /queue: still queued or running
    FOUND_NOTHING = "found_nothing"  # in neither: ComfyUI lost it (it restarted, or its queue was cleared)
    LOOKUP_FAILED = "lookup_failed"  # ComfyUI could not be asked
    # Cancelling (the `cancel` request; the answers: scheduling/answers.py).
    CANCEL_ASKED = "cancel_asked"  # a client's `cancel`
    ESCALATE = "escalate"  # the timer after a cancel that nothing has confirmed
    LEFT_QUEUE = "left_queue"  # the prompt is no longer in ComfyUI's queue after the cancel
    STILL_QUEUED = "still_queued"  # it still is
    # Moving between backends (scheduling/moves.py).
    WITHDRAW = "withdraw"  # it waits in a busy backend's queue while another one is idle
    WITHDRAWN = "withdrawn"  # ComfyUI confirmed it is out of its queue
    KEPT = "kept"  # it had started, or ComfyUI could not say: it stays there
    BACKEND_GONE = "backend_gone"  # its backend is down for `failover_after`, or left the settings
    # Outputs (the file writers).
    SAVED = "saved"  # its images and sidecar are written
    SAVE_FAILED = "save_failed"
    # A bug in pixflow while handling one of the job's events or timers (the guard).
    INTERNAL = "internal"


class Effect(StrEnum):
    """What the shell does after a row moved the job. Listed in the order they are carried out."""

    COUNT_ATTEMPT = "count_attempt"  # attempts + 1; the job no longer says why it waits
    MARK_CANCEL = "mark_cancel"  # cancel_requested: what the client asked for; the phase decides what is done
    NOTE_START = "note_start"  # started_at: ComfyUI's execution_start
    NOTE_PROGRESS = "note_progress"  # progress and the ETA's step; published on job.progress.<id>
    TOUCH = "touch"  # written at the next flush, not now (progress, the event counter)
    KEEP_OUTPUT = "keep_output"  # an output node's images seen live (spare a GET /history at the end)
    PREVIEW = "preview"  # published on job.preview.<id>; the newest kept for fetch_preview
    NOTE_OUTPUTS = "note_outputs"  # the saved images, each published on job.output.<id>
    RESTART = "restart"  # started_at and progress forgotten: it runs again from the start
    REPROMPT = "reprompt"  # a new prompt id: events of the copy left behind no longer reach the job
    REQUEUE = "requeue"  # back into pixflow's queue, at its own place
    SAVE = "save"  # committed with the turn (once, however many rows ask; before a SUBMIT)
    SUBMIT = "submit"  # POST /prompt to the backend it was placed on (after its upload of input images)
    REST_BACKEND = "rest_backend"  # the backend failed a POST: it takes no prompt for a moment
    CANCEL_PROMPT = "cancel_prompt"  # delete it from ComfyUI's queue, or interrupt it by its prompt id
    ESCALATE_LATER = "escalate_later"  # in `cancel_timeout`: ESCALATE
    INTERRUPT_ALL = "interrupt_all"  # a plain interrupt: ours runs there, and some ComfyUIs ignore prompt ids
    DISCARD_NOW = "discard_now"  # remove or interrupt it by its id, where it is unknown
    DISCARD_COPY = "discard_copy"  # the copy on its backend is removed when that backend is reachable again
    WITHDRAW = "withdraw"  # delete it from the backend's queue, then confirm through /queue and /history
    ASK = "ask"  # GET /history and /queue for the prompt
    LOOK_AGAIN_LATER = "look_again_later"  # in `reconcile_interval`: LOOK_AGAIN
    FETCH = "fetch"  # download its images (from the outputs seen live, or read from /history) and write them


class When(StrEnum):
    """A condition a row may add to its event and phases (read from the job by the shell, see `Facts`)."""

    ALWAYS = "always"
    CANCEL_ASKED = "cancel_asked"
    STARTED = "started"  # ComfyUI reported execution_start for this attempt
    OUTPUTS_MISSED = "outputs_missed"  # events may have been missed since it was sent: its outputs come from /history
    BACKEND_DOWN = "backend_down"
    ATTEMPTS_LEFT = "attempts_left"  # fewer than `max_attempts` POSTs
    RUNNING_THERE = "running_there"  # its backend's events say its prompt runs now
    PREVIEWS_WANTED = "previews_wanted"  # the client asked for previews


@dataclass(frozen=True)
class Facts:
    cancel_asked: bool = False
    started: bool = False
    outputs_missed: bool = False
    backend_down: bool = False
    attempts_left: bool = True
    running_there: bool = False
    previews_wanted: bool = False

    def hold(self, when: When) -> bool:
        return when == When.ALWAYS or bool(getattr(self, when.value))


@dataclass(frozen=True)
class Rule:
    event: Event
    phases: frozenset[Phase]
    why: str
    when: When = When.ALWAYS
    phase: Phase | None = None  # the phase it moves to (None: it stays)
    state: JobState | None = None  # the state it moves to (None: it stays; see `to_stage`)
    to_stage: bool = False  # the state is the stage the event names
    failure: FailureCode | None = None  # it ends `failed` with this code
    effects: tuple[Effect, ...] = ()

    @property
    def ignores(self) -> bool:
        return self.phase is None and self.state is None and not self.to_stage and not self.effects
