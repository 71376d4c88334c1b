"""No ghost jobs from the Python client (issue 11): ids chosen by the client, sockets thrown away on a timeout, calls
that return in time while the worker is down, restarts noticed, and `follow` that resynchronises with `status`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import zmq

from pixflow.client import Accepted, Client, ClientError
from pixflow.protocol import PROTOCOL_VERSION, job_topic, pack, unpack
from pixflow.replay.server import ReplayServer
from pixflow.testing import ThreadWorker, answers, free_tcp
from pixflow.vocabulary import JOB_TOPIC_PREFIXES, TOPIC_STATE, TOPIC_STATS
from tests.helpers import run_job, states_of, wait_for

TIMEOUT = 0.4
MARGIN = 0.25  # scheduling slack on a busy test machine
SPRITE = {"size": [64, 64], "steps": 8}


@pytest.fixture
def context() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield context
    context.destroy(linger=0)


def timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    try:
        result: object = call()
    except ClientError as e:
        result = e
    return result, time.monotonic() - started


def submitted(client: Client, job_id: str) -> Accepted | None:
    try:
        return client.submit("pixel art knight", id=job_id, **SPRITE)
    except ClientError as e:
        assert e.code == "timeout", e
        return None


def test_timeouts_while_the_worker_is_down_leave_exactly_one_job(
    replay: ReplayServer, start_worker: Callable[..., ThreadWorker], context: zmq.Context[zmq.Socket[bytes]]
) -> None:
    req, pub = free_tcp(), free_tcp()
    # The hazard, for contrast: a plain DEALER keeps a request queued while nobody listens and delivers it later.
    naive = context.socket(zmq.DEALER)
    naive.setsockopt(zmq.LINGER, 0)
    naive.connect(req)
    naive.send_multipart([b"", pack({"type": "generate", "v": PROTOCOL_VERSION, "id": "naive-ghost", "prompt": "p"})])

    client = Client(req, pub, timeout=TIMEOUT, context=context)
    calls = [
        lambda: client.submit("pixel art knight", id="knight-1", **SPRITE),
        lambda: client.generate("an id the caller never learns", **SPRITE),
        lambda: client.submit("pixel art knight", id="knight-1", **SPRITE),  # the user retries
        lambda: client.ping(),
        lambda: client.status("knight-1"),
    ]
    for call in calls:
        result, elapsed = timed(call)
        assert isinstance(result, ClientError) and result.code == "timeout"
        assert elapsed <= TIMEOUT + MARGIN, f"a call took {elapsed:.2f}s with a {TIMEOUT}s timeout"

    start_worker(replay.url, req_addr=req, pub_addr=pub)
    first = wait_for(lambda: submitted(client, "knight-1"), timeout=10, what="the worker to answer the retry")
    assert first == Accepted("knight-1", existing=False, state="queued")
    again = client.submit("pixel art knight", id="knight-1", **SPRITE)
    assert again.job_id == "knight-1" and again.existing
    wait_for(lambda: client.call("list_jobs")["total"] >= 2, what="the naive request to arrive late")
    # Had any of the timed-out requests been kept, it would have been delivered with the naive one, on connecting.
    jobs = client.call("list_jobs")
    assert sorted(job["job_id"] for job in jobs["jobs"]) == ["knight-1", "naive-ghost"]
    naive.close(0)
    client.close()


def test_generate_always_carries_an_id_and_a_timeout_replaces_the_socket(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    address = free_tcp()
    router.bind(address)
    client = Client(address, free_tcp(), timeout=TIMEOUT, context=context)
    senders = []
    for call in (lambda: client.generate("p"), lambda: client.call("generate", prompt="p")):
        result, elapsed = timed(call)
        assert isinstance(result, ClientError) and result.code == "timeout" and elapsed <= TIMEOUT + MARGIN
        assert router.poll(int(TIMEOUT * 1000)), "the request did not arrive"
        identity, _, payload = router.recv_multipart()
        request = unpack(payload)
        assert request["type"] == "generate" and len(request["id"]) == 32  # a uuid chosen by the client
        senders.append(identity)
    assert senders[0] != senders[1]  # the socket that timed out was closed: a new one sent the second request
    client.close()


def test_a_lost_answer_then_a_retry_gives_the_same_job(worker: ThreadWorker) -> None:
    client = worker.client()
    first = client.submit("pixel art knight", id="lost-answer", **SPRITE)
    again = client.submit("another prompt entirely", id="lost-answer", steps=3)
    assert (first.existing, again.existing) == (False, True) and again.job_id == first.job_id
    assert client.status("lost-answer")["params"]["prompt"] == "pixel art knight"  # the first one counts


def test_a_worker_restart_is_noticed_through_pong_and_worker_stats(
    replay: ReplayServer, start_worker: Callable[..., ThreadWorker]
) -> None:
    req, pub = free_tcp(), free_tcp()
    first = start_worker(replay.url, req_addr=req, pub_addr=pub)
    seen: list[int] = []
    pinger = Client(req, pub, timeout=1.0, on_restart=seen.append)
    listener = Client(req, pub, timeout=1.0)
    try:
        assert pinger.ping()["started_at"] == first.worker.started_at
        listener.wait_subscribed()
        assert listener.identity.started_at == first.worker.started_at
        first.stop()
        second = start_worker(replay.url, req_addr=req, pub_addr=pub)
        assert second.worker.started_at != first.worker.started_at
        wait_for(lambda: answers(pinger) and seen, timeout=10, what="the new worker's pong")
        assert seen == [second.worker.started_at] and pinger.identity.restarts == 1

        def restart_heard() -> bool:
            listener.next_event(1.0, want=lambda topic, _: topic == TOPIC_STATS)
            return listener.identity.restarts == 1

        wait_for(restart_heard, timeout=10, what="a worker.stats event of the new worker")
        assert listener.identity.started_at == second.worker.started_at
    finally:
        pinger.close()
        listener.close()


def test_follow_keeps_other_jobs_events_and_joins_late(worker: ThreadWorker) -> None:
    client = worker.client()
    client.subscribe(*JOB_TOPIC_PREFIXES)  # every job's four topics: `follow` can tell a gap
    client.wait_subscribed()
    for job_id in ("first", "second"):
        client.submit("pixel art knight", id=job_id, **SPRITE)
    full = ["queued", "loading", "encoding", "sampling", "decoding", "saving", "done"]
    assert states_of(list(client.follow("first", 10))) == full
    assert states_of(list(client.follow("second", 10))) == full  # read while following "first", kept
    # Following a job already over, never subscribed: its status comes as one synthetic event.
    run_job(client, "over", **SPRITE)
    late = worker.client()
    [(topic, event)] = list(late.follow("over", 10))
    assert topic == f"{TOPIC_STATE}over" and event["to"] == "done" and event["synthetic"] is True
    assert event["outputs"] == client.status("over")["outputs"]


@pytest.fixture
def fake_pub(context: zmq.Context[zmq.Socket[bytes]]) -> Iterator[tuple[zmq.Socket[bytes], str]]:
    """An XPUB in place of the worker's PUB: the test publishes what it likes and sees subscriptions arrive."""
    xpub = context.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    address = free_tcp()
    xpub.bind(address)
    yield xpub, address
    xpub.close(0)


def follower_of(worker: ThreadWorker, fake_pub: tuple[zmq.Socket[bytes], str], job_id: str) -> Client:
    """A client asking the real worker, listening to the fake PUB, subscribed (live) to the job and worker.stats."""
    xpub, address = fake_pub
    client = Client(worker.req, address, timeout=2.0)
    client.subscribe_job(job_id)
    client.subscribe(TOPIC_STATS)
    wanted = {b"\x01" + job_topic(prefix, job_id) for prefix in JOB_TOPIC_PREFIXES} | {b"\x01" + TOPIC_STATS.encode()}
    deadline = time.monotonic() + 5
    while wanted:
        assert xpub.poll(max(1, int((deadline - time.monotonic()) * 1000))), f"subscriptions missing: {wanted}"
        wanted.discard(xpub.recv())
    return client


def state_event(job_id: str, seq: int, source: str | None, dest: str) -> list[bytes]:
    event = {"ts": 0, "job_id": job_id, "seq": seq, "from": source, "to": dest}
    return [job_topic(TOPIC_STATE, job_id), pack(event)]


def test_follow_reads_status_on_a_seq_gap(worker: ThreadWorker, fake_pub: tuple[zmq.Socket[bytes], str]) -> None:
    run_job(worker.client(), "gap-1", **SPRITE)  # over, on the real worker
    client = follower_of(worker, fake_pub, "gap-1")
    xpub, _ = fake_pub
    xpub.send_multipart(state_event("gap-1", 1, None, "queued"))
    xpub.send_multipart(state_event("gap-1", 3, "loading", "encoding"))  # seq 2 never comes; nor does "done"
    events = list(client.follow("gap-1", timeout=5, idle=60))
    assert [(event["seq"], event["to"]) for _, event in events[:2]] == [(1, "queued"), (3, "encoding")]
    final = events[2][1]
    assert len(events) == 3 and final["synthetic"] and final["to"] == "done" and final["from"] == "encoding"
    assert final["seq"] == worker.client().status("gap-1")["seq"]
    client.close()


def test_follow_reads_status_after_a_worker_restart(
    worker: ThreadWorker, fake_pub: tuple[zmq.Socket[bytes], str]
) -> None:
    run_job(worker.client(), "restart-1", **SPRITE)
    client = follower_of(worker, fake_pub, "restart-1")
    xpub, _ = fake_pub
    xpub.send_multipart([TOPIC_STATS.encode(), pack({"ts": 0, "started_at": 1000})])
    xpub.send_multipart(state_event("restart-1", 1, None, "queued"))
    xpub.send_multipart([TOPIC_STATS.encode(), pack({"ts": 0, "started_at": 2000})])  # another worker process
    events = list(client.follow("restart-1", timeout=5, idle=60))
    assert [event["to"] for _, event in events] == ["queued", "done"] and events[1][1]["synthetic"]
    assert client.identity.restarts == 1
    client.close()


def test_follow_gives_up_in_time_when_the_worker_is_down() -> None:
    client = Client(free_tcp(), free_tcp(), timeout=TIMEOUT)
    result, elapsed = timed(lambda: list(client.follow("nobody", timeout=1.0, idle=0.3)))
    assert isinstance(result, ClientError) and result.code == "timeout"
    assert elapsed <= 1.0 + MARGIN
    client.close()
