"""The pool benchmark's baselines: the same jobs on the same replay pool with no pixflow, straight over
ComfyUI's own API. Both know which GPU has which checkpoint (a GPU refuses a model it lacks) and take jobs in
priority order; neither looks at which model a GPU has loaded.

- round-robin: every job is POSTed at once, each to the next GPU in turn that has its model, and waits in that
  ComfyUI's queue.
- first free: a thread per GPU; whenever its GPU is free it takes the first waiting job the GPU can run.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from bench.harness import REPO, wait_until
from bench.scenarios.direct import DirectClient
from bench.scenarios.pool_metrics import Outcome, server_stats
from bench.scenarios.pool_setup import Gpu, PoolJob, by_priority
from pixflow.replay.pool import ReplayPool

GRAPH = json.loads((REPO / "workflows" / "txt2img.json").read_text())
RUN_TIMEOUT = 300.0  # a whole policy's run; the runs measured take 10-60 s


def graph_for(model: str) -> dict[str, Any]:
    graph = json.loads(json.dumps(GRAPH))
    graph["4"]["inputs"]["ckpt_name"] = model
    return graph


def round_robin(pool: ReplayPool, gpus: tuple[Gpu, ...], jobs: list[PoolJob]) -> Outcome:
    turn = 0
    assigned: list[tuple[int, PoolJob]] = []
    for job in by_priority(jobs):
        while job.model not in gpus[turn % len(gpus)].checkpoints:
            turn += 1
        assigned.append((turn % len(gpus), job))
        turn += 1
    session = requests.Session()
    submitted, prompt_of = {}, {}
    begin = time.monotonic()
    try:
        for gpu, job in assigned:
            prompt_id = str(uuid.uuid4())
            body = {"prompt": graph_for(job.model), "prompt_id": prompt_id, "client_id": "round-robin"}
            session.post(f"{pool.urls[gpu]}/prompt", json=body, timeout=10).raise_for_status()
            submitted[job.job_id], prompt_of[job.job_id] = begin, prompt_id  # all known at once, as for pixflow
        counts = [sum(1 for gpu, _ in assigned if gpu == index) for index in range(len(gpus))]
        wait_until(lambda: _ran(pool, counts), RUN_TIMEOUT, "the round-robin run", interval=0.05)
    finally:
        session.close()
    return Outcome("round-robin", jobs, submitted, prompt_of, server_stats(pool.urls))


def _ran(pool: ReplayPool, counts: list[int]) -> bool:
    return all(stats["prompts_run"] >= count for stats, count in zip(server_stats(pool.urls), counts, strict=True))


def first_free(pool: ReplayPool, gpus: tuple[Gpu, ...], jobs: list[PoolJob]) -> Outcome:
    waiting = by_priority(jobs)
    lock = threading.Lock()
    submitted: dict[str, float] = {}
    prompt_of: dict[str, str] = {}
    errors: list[BaseException] = []

    def take(gpu: Gpu) -> PoolJob | None:
        with lock:
            for index, job in enumerate(waiting):
                if job.model in gpu.checkpoints:
                    return waiting.pop(index)
            return None

    def serve(server_index: int) -> None:
        client = DirectClient(pool[server_index])
        try:
            while (job := take(gpus[server_index])) is not None:
                client.graph = graph_for(job.model)
                prompt_of[job.job_id] = client.run()
        except BaseException as e:  # reported after the join
            errors.append(e)
        finally:
            client.close()

    begin = time.monotonic()
    submitted.update((job.job_id, begin) for job in jobs)
    _run_threads([lambda i=i: serve(i) for i in range(len(gpus))])  # type: ignore[misc]
    if errors:
        raise RuntimeError(f"first-free baseline failed: {errors[0]!r}") from errors[0]
    return Outcome("first free", jobs, submitted, prompt_of, server_stats(pool.urls))


def _run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=target, name=f"baseline-{i}", daemon=True) for i, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_TIMEOUT)
        if thread.is_alive():
            raise TimeoutError(f"{thread.name} did not finish within {RUN_TIMEOUT}s")
