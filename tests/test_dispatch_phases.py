"""The dispatch model: the moves between phases, and what the loop does with a job in each phase.

The loop-level tests drive the real Scheduler (real SQLite store, real machine and book) with the typed
messages its backend threads post; the backend's command queue is recorded instead of reaching a ComfyUI,
so each test can say exactly which command a message must lead to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pixflow.comfy import events as ce
from pixflow.comfy import messages as m
from pixflow.comfy.capabilities import Capabilities
from pixflow.jobs.dispatch import DispatchBook, Phase
from pixflow.jobs.job import Job
from pixflow.jobs.store import JobStore
from pixflow.scheduling.backends import Health, Mode
from pixflow.scheduling.scheduler import Scheduler
from pixflow.settings import load_settings
from pixflow.workflows import load_workflows
from pixflow.workflows.params import GenerateParams
from tests.helpers import REPO
from tests.loop_helpers import RecordingBackend, RecordingPublisher, finish

WORKFLOWS = load_workflows(REPO / "workflows")
CAPABILITIES = Capabilities.from_object_info(json.loads((REPO / "fixtures/recordings/object_info.json").read_text()))
IMAGE_A = {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}
IMAGE_B = {"images": [{"filename": "b.png", "subfolder": "", "type": "output"}]}


# The book.
def test_slots_are_held_exactly_while_the_prompt_is_on_the_backend() -> None:
    book = DispatchBook()
    book.place("j", Phase.SUBMITTED, "gpu0")
    assert book.holding("gpu0") == ["j"]
    for phase in (Phase.RECONCILING, Phase.SUBMITTED, Phase.SUCCEEDED, Phase.WITHDRAWING):
        book.place("j", phase, "gpu0")
        assert book.holding("gpu0") == ["j"]
    book.place("j", Phase.FETCHING, "gpu0")
    assert book.inflight("gpu0") == 0  # ComfyUI is done with it: the sidecar still names the backend
    book.place("j", Phase.ENDED, "gpu0")
    assert book.inflight("gpu0") == 0


def test_a_job_sent_elsewhere_holds_only_its_new_backend() -> None:
    book = DispatchBook()
    book.place("j", Phase.SUBMITTED, "gpu0")
    book.place("j", Phase.WAITING, None)
    assert book.inflight("gpu0") == 0
    book.place("j", Phase.SUBMITTED, "gpu1")
    assert book.holding("gpu1") == ["j"] and book.holding("gpu0") == []


# The loop.
@pytest.fixture
def loop(tmp_path: Path) -> Any:
    settings = load_settings(overrides={"db_path": tmp_path / "jobs.db", "output_dir": tmp_path / "out"}, environ={})
    store = JobStore(settings.db_path)
    publisher = RecordingPublisher()
    timers: list[Any] = []
    scheduler = Scheduler(settings, WORKFLOWS, store, publisher, lambda message: None, lambda d, c: timers.append(c))
    scheduler.timers = timers  # type: ignore[attr-defined]  # the test fires them
    backend = RecordingBackend()
    scheduler.backends["local"].backend = backend  # type: ignore[assignment]
    scheduler.on_message(m.BackendUp("local", "client-1"))
    scheduler.on_message(m.BackendInfo("local", CAPABILITIES))
    yield scheduler, backend, publisher
    store.close()


def _submit(scheduler: Scheduler, job_id: str = "job-1") -> Job:
    params = GenerateParams(prompt="knight", seed=1)
    job = scheduler.create_job(job_id, params, WORKFLOWS["txt2img"])
    scheduler.dispatch()
    assert job.phase == Phase.SUBMITTED
    return job


def _event(event: ce.ComfyEvent) -> m.BackendEvent:
    return m.BackendEvent("local", event)


def test_after_a_reconnect_the_outputs_come_from_history_not_from_before_the_drop(loop: Any) -> None:
    """Regression: the outputs seen before a drop were saved instead of the history entry's."""
    scheduler, backend, _ = loop
    job = _submit(scheduler)
    scheduler.on_message(_event(ce.ExecutionStart(job.prompt_id)))
    scheduler.on_message(_event(ce.Executed(job.prompt_id, "9", IMAGE_A)))
    scheduler.on_message(m.BackendDown("local", "lost the WebSocket"))
    scheduler.on_message(m.BackendUp("local", "client-2"))
    assert job.phase == Phase.RECONCILING
    assert backend.named("reconcile") == [(job.job_id, job.prompt_id)]
    entry = {"outputs": {"9": IMAGE_A, "12": IMAGE_B}, "status": {"status_str": "success", "completed": True}}
    scheduler.on_message(m.PromptFinished(job.job_id, entry))
    [(job_id, _prompt_id, _, _, node_outputs, _post)] = backend.named("fetch_outputs")
    assert job.phase == Phase.FETCHING and job_id == job.job_id
    assert node_outputs == entry["outputs"]


def test_a_prompt_ending_live_after_missed_events_reads_its_outputs_from_history(loop: Any) -> None:
    scheduler, backend, _ = loop
    job = _submit(scheduler)
    scheduler.on_message(_event(ce.Executed(job.prompt_id, "9", IMAGE_A)))
    scheduler.tick()  # nothing yet: the backend is not silent for long
    scheduler.on_message(m.BackendUp("local", "client-2"))  # a reconnect: events may have been missed
    scheduler.on_message(_event(ce.ExecutionSuccess(job.prompt_id)))  # ... and they flow again
    scheduler.on_message(_event(ce.Executing(job.prompt_id, None)))
    [(*_, node_outputs, _post)] = backend.named("fetch_outputs")
    assert node_outputs is None  # the download thread reads /history first


def test_outputs_seen_live_spare_the_history_read(loop: Any) -> None:
    scheduler, backend, _ = loop
    job = _submit(scheduler)
    scheduler.on_message(_event(ce.Executed(job.prompt_id, "9", IMAGE_A)))
    scheduler.on_message(_event(ce.ExecutionSuccess(job.prompt_id)))
    assert job.phase == Phase.SUCCEEDED
    scheduler.on_message(_event(ce.Executing(job.prompt_id, None)))
    [(*_, node_outputs, _post)] = backend.named("fetch_outputs")
    assert node_outputs == {"9": IMAGE_A}
    assert scheduler.book.inflight("local") == 0  # ComfyUI is done with it: its slot is free for the next


def test_an_answer_about_a_job_whose_events_came_back_is_ignored(loop: Any) -> None:
    scheduler, _backend, _ = loop
    job = _submit(scheduler)
    scheduler.on_message(m.BackendUp("local", "client-2"))
    scheduler.on_message(_event(ce.ExecutionStart(job.prompt_id)))
    assert job.phase == Phase.SUBMITTED
    scheduler.on_message(m.PromptUnknown(job.job_id))  # stale: the live events are the better news
    assert job.phase == Phase.SUBMITTED and job.attempts == 1


def test_a_lost_prompt_goes_back_to_pixflows_queue_and_is_sent_again(loop: Any) -> None:
    scheduler, backend, _ = loop
    job = _submit(scheduler)
    scheduler.on_message(m.BackendUp("local", "client-2"))
    scheduler.on_message(m.PromptUnknown(job.job_id))
    assert job.phase == Phase.WAITING and job.backend is None and scheduler.book.inflight("local") == 0
    scheduler.dispatch()
    assert job.phase == Phase.SUBMITTED and job.attempts == 2
    assert [args[0] for args in backend.named("submit")] == [job.job_id, job.job_id]


def test_a_bug_while_handling_one_jobs_message_fails_that_job_only(loop: Any) -> None:
    scheduler, backend, publisher = loop
    job = _submit(scheduler, "broken")
    other = _submit(scheduler, "fine")
    scheduler.on_message(m.CommandFailed(job.job_id, "KeyError: 'x'"))
    assert job.state == "failed" and job.error is not None and job.error["code"] == "internal"
    assert "KeyError" in job.error["message"]
    assert backend.named("cancel") == [(job.job_id, job.prompt_id)]  # its prompt leaves ComfyUI's GPU
    failed = [e for t, e in publisher.events if t == "job.state.broken" and e.get("to") == "failed"]
    assert failed and failed[0]["error"]["code"] == "internal"
    assert other.phase == Phase.SUBMITTED and not other.finished


def test_a_bug_in_a_jobs_timer_fails_that_job_only(loop: Any) -> None:
    scheduler, backend, _ = loop
    job = _submit(scheduler, "cancelled-late")
    other = _submit(scheduler, "fine")
    scheduler.cancel_job(job)
    assert backend.named("cancel") == [(job.job_id, job.prompt_id)]
    scheduler.backends["local"].running_prompt = job.prompt_id  # it runs there: the escalation interrupts it

    def interrupt_all() -> None:  # a stand-in for a bug in the escalation
        raise ValueError("a bug in the escalation")

    backend.interrupt_all = interrupt_all  # type: ignore[method-assign]
    [escalate] = scheduler.timers
    escalate()
    assert job.state == "failed" and job.error is not None and job.error["code"] == "internal"
    assert "escalate" in job.error["message"] and "ValueError: a bug in the escalation" in job.error["message"]
    assert scheduler.book.holding("local") == [other.job_id]  # its slot is free, whatever the job said
    assert other.phase == Phase.SUBMITTED and not other.finished


def test_events_after_comfyui_is_done_do_not_touch_a_fetching_job(loop: Any) -> None:
    scheduler, backend, _ = loop
    job = _submit(scheduler)
    scheduler.on_message(m.BackendUp("local", "client-2"))
    entry = {"outputs": {"9": IMAGE_A}, "status": {"status_str": "success", "completed": True}}
    scheduler.on_message(m.PromptFinished(job.job_id, entry))
    assert job.phase == Phase.FETCHING
    for event in (ce.ExecutionSuccess(job.prompt_id), ce.Executing(job.prompt_id, None)):
        scheduler.on_message(_event(event))  # the live events of the same end, arriving late
    assert job.phase == Phase.FETCHING and not job.finished and len(backend.named("fetch_outputs")) == 1


def test_a_prompt_whose_post_failed_on_our_side_but_runs_in_comfyui_is_followed(loop: Any) -> None:
    scheduler, backend, _ = loop
    scheduler.backends["local"].health = Health.DOWN  # nothing is sent while we set the scene
    job = scheduler.create_job("timed-out", GenerateParams(prompt="knight", seed=1), WORKFLOWS["txt2img"])
    scheduler.on_message(_event(ce.ExecutionStart(job.prompt_id)))
    assert job.phase == Phase.SUBMITTED and job.backend == "local"
    scheduler.backends["local"].health = Health.UP
    scheduler.dispatch()
    assert backend.named("submit") == []  # never sent twice
    scheduler.on_message(m.SubmitFailed(job.job_id, "timed out"))  # a late answer to a POST: stale
    assert job.phase == Phase.SUBMITTED


def test_owners_take_turns_within_a_priority_and_priorities_stay_global(loop: Any) -> None:
    scheduler, backend, _ = loop
    scheduler.set_paused(True)
    for i in range(6):
        scheduler.create_job(f"many-{i}", GenerateParams(prompt="k", seed=1, owner="alice"), WORKFLOWS["txt2img"])
    scheduler.create_job("one", GenerateParams(prompt="k", seed=1, owner="bob"), WORKFLOWS["txt2img"])
    scheduler.create_job("urgent", GenerateParams(prompt="k", seed=1, owner="alice", priority=5), WORKFLOWS["txt2img"])
    scheduler.set_paused(False)
    sent: list[str] = []
    while len(sent) < 8:
        scheduler.dispatch()
        fresh = [args[0] for args in backend.named("submit")][len(sent) :]
        assert fresh, "nothing was sent"
        sent += fresh
        for job_id in fresh:
            finish(scheduler, scheduler.find(job_id))
    assert sent[0] == "urgent"  # a higher priority first, whoever asked
    assert sent.index("one") <= 2  # bob's one job does not wait behind alice's six
    assert [s for s in sent if s.startswith("many")] == [f"many-{i}" for i in range(6)]  # alice's in her order


@pytest.fixture
def two(tmp_path: Path) -> Any:
    backends = [{"name": "gpu0", "url": "http://127.0.0.1:9"}, {"name": "gpu1", "url": "http://127.0.0.1:10"}]
    settings = load_settings(
        overrides={"db_path": tmp_path / "jobs.db", "output_dir": tmp_path / "out", "backends": backends}, environ={}
    )
    store = JobStore(settings.db_path)
    scheduler = Scheduler(settings, WORKFLOWS, store, RecordingPublisher(), lambda message: None, lambda d, c: None)
    recorders = {}
    for name in ("gpu0", "gpu1"):
        recorders[name] = RecordingBackend()
        scheduler.backends[name].backend = recorders[name]  # type: ignore[assignment]
        scheduler.on_message(m.BackendUp(name, f"client-{name}"))
        scheduler.on_message(m.BackendInfo(name, CAPABILITIES))
    yield scheduler, recorders
    store.close()


def test_a_prompt_parked_behind_a_running_one_moves_to_a_backend_that_fell_idle(two: Any) -> None:
    scheduler, recorders = two
    scheduler.set_backend_mode("gpu1", Mode.DISABLED)
    first, parked = (_submit(scheduler, name) for name in ("first", "parked"))
    assert first.backend == parked.backend == "gpu0"
    scheduler.on_message(m.BackendEvent("gpu0", ce.ExecutionStart(first.prompt_id)))
    scheduler.set_backend_mode("gpu1", Mode.ACTIVE)
    scheduler.dispatch()
    assert parked.phase == Phase.WITHDRAWING and recorders["gpu0"].named("withdraw") == [("parked", parked.prompt_id)]
    assert first.phase == Phase.SUBMITTED  # the running one is never asked to move
    scheduler.on_message(m.Withdrawn("parked", removed=True))
    scheduler.dispatch()
    assert parked.phase == Phase.SUBMITTED and parked.backend == "gpu1"
    assert [args[0] for args in recorders["gpu1"].named("submit")] == ["parked"]


def test_a_prompt_that_started_before_it_could_be_withdrawn_stays(two: Any) -> None:
    scheduler, recorders = two
    scheduler.set_backend_mode("gpu1", Mode.DISABLED)
    first, parked = (_submit(scheduler, name) for name in ("first", "parked"))
    scheduler.on_message(m.BackendEvent("gpu0", ce.ExecutionStart(first.prompt_id)))
    scheduler.set_backend_mode("gpu1", Mode.ACTIVE)
    scheduler.dispatch()
    scheduler.on_message(m.Withdrawn("parked", removed=False))
    assert parked.phase == Phase.SUBMITTED and parked.backend == "gpu0"
    assert recorders["gpu1"].named("submit") == []


def test_a_job_no_backend_can_run_fails_naming_what_is_missing(loop: Any) -> None:
    scheduler, backend, _ = loop
    params = GenerateParams(prompt="knight", seed=1, model="nope.safetensors")
    job = scheduler.create_job("nowhere", params, WORKFLOWS["txt2img"])
    scheduler.dispatch()
    assert job.state == "failed" and job.error is not None and job.error["code"] == "no_capable_backend"
    assert "local lacks checkpoint nope.safetensors" in job.error["message"]
    assert backend.named("submit") == []


def test_a_waiting_job_says_why_even_when_no_slot_is_free(loop: Any) -> None:
    scheduler, _, _ = loop
    for i in range(3):  # max_inflight 2: the third has no slot anywhere
        scheduler.create_job(f"j{i}", GenerateParams(prompt="knight", seed=1), WORKFLOWS["txt2img"])
    scheduler.dispatch()
    third = scheduler.find("j2")
    assert third is not None and third.phase == Phase.WAITING
    scheduler.tick()
    assert third.snapshot()["wait_reason"] == "waiting for a free slot on local"
