"""Helpers of the e2e tests: follow jobs over the worker's ZeroMQ interface, look at ComfyUI over HTTP.

A module of its own, not the conftest: fixtures live in tests/e2e/conftest.py, helpers here, imported as
`from tests.e2e.e2e_helpers import ...`.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pixflow.client import Client, ClientError
from pixflow.comfy.outputs import png_size
from pixflow.vocabulary import STAGE_NAMES, TERMINAL_STATES

URL_VAR = "PIXFLOW_E2E_COMFYUI_URL"
JOB_TIMEOUT = 90.0  # a cold ComfyUI takes ~8 s to load the checkpoint; a warm 64x64 8-step job ~1 s
TERMINAL = TERMINAL_STATES
PIPELINE = STAGE_NAMES

Event = tuple[str, dict[str, Any]]


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Poll until condition() is truthy and return it; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or condition}")
        time.sleep(interval)


def unique_prompt(label: str) -> str:
    """A prompt no earlier prompt had, so ComfyUI cannot serve its text encoding from its cache."""
    return f"pixel art {label}, 16-bit sprite, {uuid.uuid4().hex[:8]}"


def steps(node: str, count: int) -> list[tuple[str, int, int]]:
    return [(node, value, count) for value in range(1, count + 1)]


class JobEvents:
    """Every event of the jobs one client watches, kept per job (Client.follow would drop other jobs')."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.events: dict[str, list[Event]] = defaultdict(list)

    def watch(self, *job_ids: str) -> JobEvents:
        for job_id in job_ids:
            self.client.subscribe_job(job_id)
        self.client.wait_subscribed(10)  # the subscriptions are live once a worker.stats arrives
        return self

    def generate(self, job_id: str, **params: Any) -> dict[str, Any]:
        """Send `generate` for a watched job with test defaults (64x64, 8 steps, a fresh prompt)."""
        params.setdefault("prompt", unique_prompt(job_id))
        params.setdefault("size", [64, 64])
        params.setdefault("steps", 8)
        params.setdefault("seed", 1001)
        reply = self.client.call("generate", id=job_id, **params)
        assert reply["job_id"] == job_id and reply["existing"] is False, reply
        return reply

    def until(self, want: Callable[[str, dict[str, Any]], bool], timeout: float, what: str) -> Event:
        """Read (and keep) events until one satisfies want(topic, event); return it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                topic, event = self.client.next_event(max(0.001, deadline - time.monotonic()))
            except ClientError:
                seen = {job: self.states(job) for job in self.events}
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {what}; states so far: {seen}"
                ) from None
            if "job_id" not in event:  # worker.stats
                continue
            self.events[event["job_id"]].append((topic, event))
            if want(topic, event):
                return topic, event

    def progress_reaches(self, job_id: str, value: int, timeout: float = JOB_TIMEOUT) -> Event:
        return self.until(
            lambda t, e: t.startswith("job.progress.") and e["job_id"] == job_id and e["value"] >= value,
            timeout,
            f"job {job_id} to reach step {value}",
        )

    def finished(self, job_id: str, timeout: float = JOB_TIMEOUT) -> list[Event]:
        """The job's events up to its terminal state (reading more if it has not ended yet)."""
        if not self.ended(job_id):
            self.until(lambda t, e: e["job_id"] == job_id and e.get("to") in TERMINAL, timeout, f"job {job_id} to end")
        return list(self.events[job_id])

    def ended(self, job_id: str) -> bool:
        return any(e.get("to") in TERMINAL for t, e in self.events[job_id] if t.startswith("job.state."))

    def states(self, job_id: str) -> list[str]:
        return states_of(self.events[job_id])

    def progress(self, job_id: str) -> list[tuple[str, int, int]]:
        return progress_of(self.events[job_id])


def run_job(client: Client, job_id: str, timeout: float = JOB_TIMEOUT, **params: Any) -> list[Event]:
    """Watch a job, submit it and return its events up to its end."""
    jobs = JobEvents(client).watch(job_id)
    jobs.generate(job_id, **params)
    return jobs.finished(job_id, timeout)


def states_of(events: list[Event]) -> list[str]:
    return [event["to"] for topic, event in events if topic.startswith("job.state.")]


def progress_of(events: list[Event]) -> list[tuple[str, int, int]]:
    return [(e["node"], e["value"], e["max"]) for topic, e in events if topic.startswith("job.progress.")]


def pipeline(*stages: str, loader_ran: bool, end: str = "done") -> list[str]:
    """queued, [loading if the checkpoint loader ran], the given stages, end."""
    return ["queued", *(["loading"] if loader_ran else []), *stages, end]


def assert_seq_contiguous(events: list[Event]) -> None:
    seqs = [event["seq"] for _, event in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


def assert_png(output: dict[str, Any], job_id: str, index: int, width: int, height: int) -> Path:
    """A saved image: in the job's folder, a PNG of that size, with the `job.output` fields that match."""
    path = Path(output["path"])
    assert path.is_file(), output
    assert path.name == f"{job_id}_{index:02d}.png" and path.parent.name == job_id, path
    data = path.read_bytes()
    assert png_size(data) == (width, height), (png_size(data), path)
    assert (output["index"], output["width"], output["height"], output["bytes"]) == (index, width, height, len(data))
    assert output["comfy_filename"].startswith("pixflow_") and output["node"] == "9", output
    return path


def sidecar_of(output: dict[str, Any], job_id: str) -> dict[str, Any]:
    return json.loads((Path(output["path"]).parent / f"{job_id}.json").read_text())


class ComfyHTTP:
    """A few read-only calls of ComfyUI's HTTP API (stdlib), to check what the worker did there."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=self.timeout) as reply:
            return json.loads(reply.read())

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt's history entry, or None (unknown, waiting or running)."""
        return self.get(f"/history/{prompt_id}").get(prompt_id)

    def finished_entry(self, prompt_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The history entry of a prompt that has ended. ComfyUI writes it after the prompt's last event
        (execution_error, execution_interrupted), so a job can end before its entry is there."""
        return wait_for(lambda: self.history(prompt_id), timeout, what=f"ComfyUI's history entry of {prompt_id}")

    def has_run_a_prompt(self) -> bool:
        """False on a freshly started ComfyUI: nothing is cached yet, the checkpoint loader will run.

        Every graph of these tests loads the same checkpoint, so once any prompt ran, the loader's output
        is cached and later prompts skip `loading` (ComfyUI's cache keeps the nodes of the last prompt).
        """
        return bool(self.get("/history?max_items=1"))

    def queue_ids(self) -> tuple[list[str], list[str]]:
        """(running prompt ids, pending prompt ids in run order)."""
        queue = self.get("/queue")
        pending = sorted(queue.get("queue_pending") or [], key=lambda item: item[0])
        return [item[1] for item in queue.get("queue_running") or []], [item[1] for item in pending]

    def in_queue(self, prompt_id: str) -> bool:
        running, pending = self.queue_ids()
        return prompt_id in running or prompt_id in pending
