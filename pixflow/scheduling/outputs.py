"""Saving a finished prompt's images: ask its backend to download them (on the loop) and have a file writer write
them, then end the job with what was saved."""

from __future__ import annotations

from typing import Any

from pixflow.comfy.messages import OutputsFailed, OutputsSaved
from pixflow.errors import FailureCode
from pixflow.jobs.dispatch import Phase
from pixflow.jobs.job import Job
from pixflow.jobs.machine import Trigger
from pixflow.scheduling.context import Shared
from pixflow.scheduling.sidecar import sidecar_for
from pixflow.vocabulary import TOPIC_OUTPUT


class OutputSaver:
    def __init__(self, shared: Shared) -> None:
        self._shared = shared

    def fetch(self, job: Job, node_outputs: dict[str, Any] | None) -> None:
        """ComfyUI is done with the prompt. `node_outputs` (output node -> images) spares a GET /history;
        None has the backend read the prompt's history entry first."""
        self._shared.book.move(job, Phase.FETCHING)
        state = self._shared.backend_of(job)
        job_dir = self._shared.settings.output_dir / job.job_id
        sidecar = sidecar_for(job, state.backend.url)
        state.backend.fetch_outputs(job.job_id, job.prompt_id, job_dir, sidecar, node_outputs or None)

    def on_result(self, job: Job, result: OutputsSaved | OutputsFailed) -> None:
        match result:
            case OutputsSaved():
                job.outputs = result.outputs
                for output in result.outputs:
                    self._shared.publisher.job_event(TOPIC_OUTPUT, job, dict(output))
                self._shared.machine.fire(job, Trigger.FINISH)
            case OutputsFailed():
                self._shared.fail(job, FailureCode.OUTPUT_FAILED, result.reason)
