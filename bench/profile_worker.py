"""Profile the worker under the zero-delay replay stream: `python -m bench.profile_worker [JOBS] [OUT]`.

Starts the replay server and `pixflow serve` as in the throughput scenario, attaches py-spy (pip install py-spy)
to the worker for the whole stream, and writes collapsed stacks (one line per stack, `;`-separated frames and a
sample count) to OUT; then prints the heaviest frames, self and inclusive, per thread."""

from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import ReplayProcess, WorkerProcess
from bench.scenarios.common import stream_jobs


def stream(worker: WorkerProcess, jobs: int, prefix: str, window: int = 200) -> float:
    with worker.client(timeout=30) as client:
        client.subscribe(b"job.state.")
        client.wait_subscribed()
        start = time.perf_counter()
        stream_jobs(worker.req, client, jobs, window, prefix)
        return jobs / (time.perf_counter() - start)


def summarize(path: Path, top: int = 40) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0]] += n
        for frame in set(frames[1:]):
            inclusive[frame] += n
        own[frames[-1]] += n
    print(f"{total} samples")
    for name, counter in (("threads", threads), ("inclusive", inclusive), ("self", own)):
        print(f"\n== {name}")
        for frame, n in counter.most_common(top):
            print(f"{100 * n / total:5.1f}%  {frame}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    jobs = int(args[0]) if args else 3000
    out = Path(args[1] if len(args) > 1 else "worker-profile.txt")
    gil = ["--gil"] if "--gil" in sys.argv else []  # only the thread holding the GIL: Python's CPU
    with (
        tempfile.TemporaryDirectory() as directory,
        ReplayProcess("cached_all") as replay,
        WorkerProcess(Path(directory), replay.url, max_queued=jobs) as worker,
    ):
        stream(worker, 300, "warm")
        spy = subprocess.Popen(
            [
                Path(sys.executable).parent / "py-spy",
                "record",
                "--pid",
                str(worker.pid),
                "--format",
                "raw",
                "--threads",
                "--rate",
                "250",
                "--output",
                str(out),
                *gil,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        cpu = worker.cpu_seconds()
        rate = stream(worker, jobs, "pf")
        cpu_ms = (worker.cpu_seconds() - cpu) * 1000 / jobs
        spy.send_signal(2)
        spy.wait(30)
    print(f"{rate:.1f} jobs/s, worker CPU {cpu_ms:.2f} ms/job (under py-spy)")
    summarize(out)


if __name__ == "__main__":
    main()
