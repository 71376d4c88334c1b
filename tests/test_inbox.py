"""The loop's inbox: every item posted is found by a reader that sleeps until woken, however posts interleave."""

from __future__ import annotations

import select
import threading

from pixflow.loop.inbox import Inbox

POSTERS, EACH = 4, 5000


def test_no_item_waits_without_a_wake_up_under_concurrent_posts() -> None:
    inbox: Inbox[tuple[int, int]] = Inbox()
    go = threading.Event()

    def post(poster: int) -> None:
        go.wait(5)
        for n in range(EACH):
            inbox.post((poster, n))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(POSTERS)]
    for thread in threads:
        thread.start()
    go.set()
    received: list[tuple[int, int]] = []
    try:
        while len(received) < POSTERS * EACH:
            readable, _, _ = select.select([inbox.wake_fd], [], [], 5.0)
            assert readable, f"items wait with no wake-up: {len(received)} of {POSTERS * EACH} received"
            received += inbox.drain()
    finally:
        for thread in threads:
            thread.join(5)
        inbox.close()
    for poster in range(POSTERS):  # each poster's items, once each, in its order
        assert [n for p, n in received if p == poster] == list(range(EACH))


def test_a_burst_of_posts_costs_one_wake_up() -> None:
    inbox: Inbox[int] = Inbox()
    try:
        for n in range(100):
            inbox.post(n)
        assert len(_pipe_bytes(inbox)) == 1
        assert inbox.drain() == list(range(100))
        inbox.post(100)  # after a drain, the next post wakes the reader again
        assert select.select([inbox.wake_fd], [], [], 1.0)[0] and inbox.drain() == [100]
    finally:
        inbox.close()


def _pipe_bytes(inbox: Inbox[int]) -> bytes:
    import os

    data = os.read(inbox.wake_fd, 65536)
    os.write(inbox._wake_write, data)  # put them back for drain
    return data
