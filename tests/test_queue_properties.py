"""Queue ordering as a property: random submits, priorities, cancels, pauses and completions.

The real Scheduler (with its SQLite store) decides what to hand to the backend; a model of the rule
(higher priority first, first come first served within a priority, at most max_inflight at once, nothing
while paused, cancelled jobs never) predicts it. Hypothesis searches for a sequence where they disagree.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pixflow.comfy.capabilities import Capabilities
from pixflow.jobs.store import JobStore
from pixflow.scheduling.backends import Health
from pixflow.scheduling.scheduler import Scheduler
from pixflow.settings import load_settings
from pixflow.workflows import load_workflows
from pixflow.workflows.params import GenerateParams
from tests.helpers import REPO
from tests.loop_helpers import finish

CAPABILITIES = Capabilities.from_object_info(json.loads((REPO / "fixtures/recordings/object_info.json").read_text()))
WORKFLOWS = load_workflows(Path(__file__).resolve().parent.parent / "workflows")
MAX_INFLIGHT = 2


class RecordingBackend:
    name, url = "local", "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str, prompt_id: str, graph: dict, client_id: str, images: tuple = ()) -> None:
        self.submitted.append(job_id)

    def cancel(self, job_id: str, prompt_id: str) -> None:
        pass

    def fetch_outputs(self, *args: object) -> None:
        pass


class SilentPublisher:
    def publish(self, topic: str, fields: dict) -> None:
        pass

    def job_event(self, prefix: str, job, fields: dict) -> None:
        job.next_seq()


class QueueOrdering(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        settings_ = load_settings(
            overrides={"db_path": Path(self.directory.name) / "jobs.db", "max_inflight": MAX_INFLIGHT}, environ={}
        )
        self.store = JobStore(settings_.db_path)
        self.scheduler = Scheduler(
            settings_,
            WORKFLOWS,
            self.store,
            SilentPublisher(),
            post=lambda message: None,
            schedule=lambda delay, callback: None,
        )
        self.backend = RecordingBackend()
        state = self.scheduler.backends["local"]
        state.backend, state.health, state.client_id = self.backend, Health.UP, "client"  # type: ignore[assignment]
        state.capabilities = CAPABILITIES
        self.count = 0
        self.waiting: list[tuple[int, int, str]] = []  # the model: (-priority, arrival, job_id)
        self.expected: list[str] = []
        self.running: list[str] = []
        self.paused = False

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.close()
            self.directory.cleanup()

    def _dispatch(self) -> None:
        self.scheduler.dispatch()
        while not self.paused and self.waiting and len(self.running) < MAX_INFLIGHT:
            self.waiting.sort()
            _, _, job_id = self.waiting.pop(0)
            self.expected.append(job_id)
            self.running.append(job_id)

    @rule(priority=st.integers(-2, 2))
    def submit(self, priority: int) -> None:
        job_id = f"job-{self.count}"
        params = GenerateParams(prompt="p", seed=1, priority=priority)
        self.scheduler.create_job(job_id, params, WORKFLOWS["txt2img"])
        self.waiting.append((-priority, self.count, job_id))
        self.count += 1
        self._dispatch()

    @precondition(lambda self: self.waiting)
    @rule(data=st.data())
    def cancel_waiting(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(self.waiting))
        self.scheduler.cancel_job(self.scheduler.find(entry[2]))
        self.waiting.remove(entry)
        self._dispatch()

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.running))
        finish(self.scheduler, self.scheduler.find(job_id))
        self.running.remove(job_id)
        self._dispatch()

    @rule()
    def pause(self) -> None:
        self.scheduler.set_paused(True)
        self.paused = True

    @rule()
    def resume(self) -> None:
        self.scheduler.set_paused(False)
        self.paused = False
        self._dispatch()

    @invariant()
    def dispatched_in_model_order(self) -> None:
        if hasattr(self, "backend"):
            assert self.backend.submitted == self.expected


QueueOrdering.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestQueueOrdering = QueueOrdering.TestCase
