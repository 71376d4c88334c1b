"""The monitor's link threads, without a screen: against a real worker, and against nobody."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from textual.message import Message

from pixflow_monitor.link import ZmqLink
from pixflow_monitor.messages import EventsReceived, LinkDown, LinkUp, ReplyReceived, RequestFailed
from pixflow_monitor.request import Request
from tests.helpers import run_job, wait_for


class Posted:
    """Collects what the link threads post (in place of the app)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    def of(self, kind: type) -> list:
        with self._lock:
            return [message for message in self.messages if isinstance(message, kind)]


@contextmanager
def running(link: ZmqLink) -> Iterator[Posted]:
    posted, stop = Posted(), threading.Event()
    threads = [threading.Thread(target=run, args=(posted, stop)) for run in (link.run_events, link.run_requests)]
    for thread in threads:
        thread.start()
    try:
        yield posted
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        assert not any(thread.is_alive() for thread in threads), "a link thread did not stop"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_link_answers_requests_and_batches_events(worker):
    link = ZmqLink(worker.req, worker.pub, timeout=2.0)
    with running(link) as posted:
        wait_for(lambda: posted.of(LinkUp), what="the link up")
        link.request(Request("status", purpose="test"))
        reply = wait_for(lambda: posted.of(ReplyReceived), what="the status reply")[0]
        assert reply.request.purpose == "test" and reply.reply["type"] == "worker"
        wait_for(lambda: posted.of(EventsReceived), what="worker.stats events")
        run_job(worker.client(), "linked-1", previews=True)

        def job_events() -> list:
            return [e for m in posted.of(EventsReceived) for e in m.events if e[1].get("job_id") == "linked-1"]

        wait_for(lambda: any(event.get("to") == "done" for _, event in job_events()), what="the job's end")
        events = job_events()
        assert [e["seq"] for _, e in events] == list(range(1, len(events) + 1))  # nothing lost, in order
        assert len(posted.of(EventsReceived)) < len(events)  # batched
        assert not posted.of(LinkDown)


def test_nobody_there_is_reported_then_the_worker_appearing_is_noticed(replay, start_worker):
    req_addr, pub_addr = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    link = ZmqLink(req_addr, pub_addr, timeout=0.3, heartbeat=0.1)
    with running(link) as posted:
        down = wait_for(lambda: posted.of(LinkDown), what="the link down")[0]
        assert req_addr in down.reason and "0.3s" in down.reason
        link.request(Request("cancel", {"job_id": "x"}, purpose="action.cancel"))
        failed = wait_for(lambda: posted.of(RequestFailed), what="the request to fail")[0]
        assert failed.code == "timeout" and failed.request.purpose == "action.cancel"
        assert not posted.of(LinkUp)
        started = start_worker(replay.url, req_addr=req_addr, pub_addr=pub_addr)
        wait_for(lambda: posted.of(LinkUp), timeout=10, what="the link up once the worker listens")
        link.request(Request("status", {"job_id": "x"}, purpose="test"))
        reply = wait_for(lambda: posted.of(ReplyReceived), what="an answer from the new worker")[0]
        assert reply.reply["code"] == "not_found"  # the cancel sent while nobody listened was never delivered
        wait_for(lambda: posted.of(EventsReceived), what="events once the worker publishes")
        assert started.req == req_addr
