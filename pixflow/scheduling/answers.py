"""What a backend's answer about one job is to the job's life (jobs/life.py): the event it names, and what the
event carries. Pure."""

from __future__ import annotations

from typing import assert_never

from pixflow.comfy import messages as m
from pixflow.comfy.history import outcome_of
from pixflow.jobs.life import Event
from pixflow.scheduling.life_shell import NOTHING, Given
from pixflow.scheduling.sidecar import rejection_message


def event_of(answer: m.JobResult) -> tuple[Event, Given]:
    match answer:
        case m.Submitted():
            return Event.ACCEPTED, NOTHING
        case m.SubmitRejected(rejection=rejection):
            details = {"comfy_error": rejection.error, "node_errors": rejection.node_errors}
            return Event.REJECTED, Given(
                reason=rejection_message(rejection.error, rejection.node_errors), details=details
            )
        case m.SubmitFailed(reason=reason):
            return Event.SEND_FAILED, Given(reason=reason)
        case m.PromptFinished(entry=entry):
            outcome = outcome_of(entry)
            if outcome.succeeded:
                return Event.FOUND_DONE, Given(outputs=entry.get("outputs") or None)
            if outcome.error is not None:
                return Event.FOUND_ERROR, Given(comfy=outcome.error)
            if outcome.interrupted is not None:
                return Event.FOUND_INTERRUPTED, Given(comfy=outcome.interrupted)
            return Event.FOUND_NO_OUTCOME, NOTHING
        case m.PromptWaiting():
            return Event.FOUND_WAITING, NOTHING
        case m.PromptUnknown():
            return Event.FOUND_NOTHING, NOTHING
        case m.ReconcileFailed(reason=reason):
            return Event.LOOKUP_FAILED, Given(reason=reason)
        case m.CancelChecked(in_comfy_queue=queued):
            return (Event.STILL_QUEUED if queued else Event.LEFT_QUEUE), NOTHING
        case m.Withdrawn(removed=removed):
            return (Event.WITHDRAWN if removed else Event.KEPT), NOTHING
        case m.OutputsSaved(outputs=outputs):
            return Event.SAVED, Given(outputs=outputs)
        case m.OutputsFailed(reason=reason):
            return Event.SAVE_FAILED, Given(reason=reason)
        case m.CommandFailed(reason=reason):
            raise RuntimeError(f"a backend thread failed: {reason}")
        case _:
            assert_never(answer)
