"""A stand-in worker for load tests of pixflow-monitor: it speaks the wire protocol (docs/protocol.md) over real
ZeroMQ sockets and publishes `rate` events per second spread over `jobs` active jobs, each job going
queued → loading → encoding → sampling (STEPS progress events) → decoding → saving → done, then replaced by
a new job. It answers ping, status (worker or job), list_jobs; anything else with `unknown_type`."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import zmq

from pixflow.protocol import PROTOCOL_VERSION, job_topic, pack, unpack
from pixflow.vocabulary import STAGE_NAMES, TOPIC_PROGRESS, TOPIC_STATE, TOPIC_STATS, JobState

STEPS = 20
QUEUED, SAMPLING, DONE = JobState.QUEUED.value, JobState.SAMPLING.value, JobState.DONE.value
BEFORE_SAMPLING, AFTER_SAMPLING = (
    STAGE_NAMES[: STAGE_NAMES.index(SAMPLING) + 1],
    STAGE_NAMES[STAGE_NAMES.index(SAMPLING) + 1 :],
)
LIFE = [QUEUED, *BEFORE_SAMPLING, *(["progress"] * STEPS), *AFTER_SAMPLING, DONE]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SyntheticWorker:
    def __init__(self, jobs: int = 1000, rate: float = 100.0, context: zmq.Context | None = None) -> None:
        self.rate = rate
        self._context = context or zmq.Context.instance()
        self.router = self._context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:*")
        self.pub = self._context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 100_000)
        self.pub.bind("tcp://127.0.0.1:*")
        self.req_addr = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.pub_addr = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.started_at = now_ms()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, int] = {}  # index into LIFE of each active job's next event
        self._ids = itertools.count(1)
        self.published = 0
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthetic-worker", daemon=True)
        created = now_ms() - jobs * 10
        for index in range(jobs):
            job = self._new_job(created + index * 10)
            # Spread the jobs over their lives so that some are queued, most run, a few are about to finish.
            for step in range(1, index % (len(LIFE) - 1) + 1):
                self._advance(job, LIFE[step], created + index * 10 + step)
            self.steps[job["job_id"]] = index % (len(LIFE) - 1) + 1

    def start(self) -> SyntheticWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.router.close(0)
        self.pub.close(0)

    # The jobs.
    def _new_job(self, created: int) -> dict[str, Any]:
        job_id = f"load-{next(self._ids):05d}"
        job = {
            "job_id": job_id,
            "state": QUEUED,
            "stage": None,
            "passes": 0,
            "progress": None,
            "outputs": [],
            "error": None,
            "params": {"prompt": f"pixel art sprite number {job_id}", "size": [64, 64], "steps": STEPS, "seed": 1},
            "workflow": "txt2img",
            "priority": 0,
            "backend": None,
            "prompt_id": f"prompt-{job_id}",
            "seq": 1,
            "cancel_requested": False,
            "created_at": created,
            "started_at": None,
            "finished_at": None,
            "state_times": {QUEUED: created},
        }
        self.jobs[job_id] = job
        self.steps[job_id] = 1
        return job

    def _advance(self, job: dict[str, Any], step: str, ts: int) -> tuple[str, dict[str, Any]]:
        job["seq"] += 1
        base = {"ts": ts, "job_id": job["job_id"], "seq": job["seq"]}
        if step == "progress":
            value = (job["progress"] or {}).get("value", 0) + 1
            job["progress"] = {"node": "3", "value": value, "max": STEPS}
            return TOPIC_PROGRESS + job["job_id"], {
                **base,
                "stage": "sampling",
                "node": "3",
                "value": value,
                "max": STEPS,
            }
        source = job["state"]
        job["state"], job["state_times"][step] = step, ts
        job["stage"] = step if step in STAGE_NAMES else None
        job["backend"] = "synthetic"
        if step == DONE:
            job["finished_at"] = ts
        return TOPIC_STATE + job["job_id"], {**base, "from": source, "to": step, "passes": 0}

    def _next_event(self) -> tuple[str, dict[str, Any]]:
        """The next event of the job whose turn it is (round robin over the active jobs)."""
        active = [job_id for job_id, step in self.steps.items() if step < len(LIFE)]
        turn = active[self.published % len(active)]
        job = self.jobs[turn]
        step = self.steps[turn]
        self.steps[turn] = step + 1
        event = self._advance(job, LIFE[step], now_ms())
        if LIFE[step] == DONE:
            del self.steps[turn]
            fresh = self._new_job(now_ms())
            self.pub.send_multipart(
                [
                    job_topic(TOPIC_STATE, fresh["job_id"]),
                    pack({"ts": fresh["created_at"], "job_id": fresh["job_id"], "seq": 1, "from": None, "to": QUEUED}),
                ]
            )
            self.published += 1
        return event

    # The loop: answer requests, publish on schedule.
    def _run(self) -> None:
        start = time.monotonic()
        next_stats = start
        while not self._stop.is_set():
            due = start + self.published / self.rate
            if self.router.poll(max(0, int((min(due, next_stats) - time.monotonic()) * 1000))):
                self._answer_all()
            now = time.monotonic()
            while start + self.published / self.rate <= now:
                topic, event = self._next_event()
                self.pub.send_multipart([topic.encode(), pack(event)])
                self.published += 1
            if now >= next_stats:
                self.pub.send_multipart([TOPIC_STATS.encode(), pack(self._stats())])
                next_stats = now + 1.0

    def _answer_all(self) -> None:
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            split = frames.index(b"")
            message = unpack(frames[split + 1])
            reply = {
                "type": "error",
                "code": "unknown_type",
                "message": f"unknown request type {message.get('type')!r}",
            }
            kind = message.get("type")
            if kind == "ping":
                reply = {"type": "pong", "version": "synthetic", "protocol": PROTOCOL_VERSION}
            elif kind == "status" and message.get("job_id"):
                job = self.jobs.get(message["job_id"])
                reply = {"type": "job", **job} if job else {"type": "error", "code": "not_found", "message": "no job"}
            elif kind == "status":
                reply = {"type": "worker", **self._worker()}
            elif kind == "list_jobs":
                reply = self._list(message)
            self.answered += 1
            reply = {**reply, "v": PROTOCOL_VERSION, "req_id": message.get("req_id")}
            self.router.send_multipart([*frames[: split + 1], pack(reply)])

    def _list(self, message: dict[str, Any]) -> dict[str, Any]:
        states = message.get("state") or []
        states = [states] if isinstance(states, str) else states
        matching = [job for job in reversed(self.jobs.values()) if not states or job["state"] in states]
        offset, limit = message.get("offset", 0), min(1000, message.get("limit", 100))
        return {"type": "jobs", "jobs": matching[offset : offset + limit], "total": len(matching), "offset": offset}

    def _counts(self) -> dict[str, int]:
        counts = {state.value: 0 for state in JobState}
        for job in self.jobs.values():
            counts[job["state"]] += 1
        return counts

    def _worker(self) -> dict[str, Any]:
        backend = {"name": "synthetic", "url": "-", "up": True, "reason": None, "version": "-", "models": 1}
        return {
            "version": "synthetic",
            "protocol": PROTOCOL_VERSION,
            "started_at": self.started_at,
            "jobs": self._counts(),
            "backends": [{**backend, "inflight": len(self.steps)}],
            "workflows": ["txt2img"],
        }

    def _stats(self) -> dict[str, Any]:
        counts = self._counts()
        running = sum(counts[s] for s in ("loading", "encoding", "sampling", "decoding", "saving"))
        return {
            "ts": now_ms(),
            "queued": counts["queued"],
            "running": running,
            "done": counts["done"],
            "failed": 0,
            "cancelled": 0,
            "backends_up": 1,
        }
