"""ETA accuracy over real recorded runs, before and after the worker has learned a job shape."""

from __future__ import annotations

import time
from pathlib import Path

from bench.harness import Figure, WorkerProcess
from bench.scenarios.common import GENERATE
from pixflow.replay.server import ReplayServer


def eta_error(directory: Path, replay: ReplayServer, jobs: int = 6) -> list[Figure]:
    """ETA error at 25, 50 and 75 % of real recorded runs (recorded timing): first with defaults only, then
    with what the worker learned from earlier jobs of the same shape."""
    replay.call(lambda state: setattr(state, "speed", 1.0))
    playlist = ["new_prompt"] * jobs
    errors: dict[int, dict[float, float]] = {}
    with WorkerProcess(directory, replay.url) as worker, worker.client() as client:
        client.subscribe(b"job.progress.", b"job.state.")
        client.wait_subscribed()
        for index, recording in enumerate(playlist):
            replay.call(lambda state, name=recording: state.playlist.append(name))
            job_id = f"eta-{index}"
            client.call("generate", **{k: v for k, v in GENERATE.items() if k not in ("type", "v")}, id=job_id)
            samples: list[tuple[float, float]] = []  # (time, eta)
            while True:
                _topic, event = client.next_event(30, want=lambda t, e, job_id=job_id: e.get("job_id") == job_id)
                now = time.monotonic()
                if event.get("eta") is not None and event.get("to") != "queued":
                    samples.append((now, event["eta"]))
                if event.get("to") in ("done", "failed"):
                    break
            start, end = samples[0][0], samples[-1][0]
            errors[index] = {}
            for share in (0.25, 0.5, 0.75):
                moment = start + share * (end - start)
                seen_at, eta = max((s for s in samples if s[0] <= moment), key=lambda s: s[0])
                predicted = eta - (moment - seen_at)
                errors[index][share] = abs(predicted - (end - moment)) / (end - start) * 100
    replay.call(lambda state: setattr(state, "speed", 0.0))
    learned = range(1, jobs)  # every job after the first of its shape has finished
    return [
        Figure(
            f"ETA error at {int(share * 100)} % of the run (learned)",
            sum(errors[i][share] for i in learned) / len(learned),
            "% of run",
            "defaults only (first job of its shape)",
            errors[0][share],
        )
        for share in (0.25, 0.5, 0.75)
    ]
