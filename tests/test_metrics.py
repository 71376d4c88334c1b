"""The Prometheus endpoint, read by a real Prometheus server (Debian's package, installed when missing) that
scrapes the worker every second; the values are asked from Prometheus's own HTTP API."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixflow.ops.metrics import Metrics, band, topic_kind
from pixflow.testing import free_tcp, wait_for
from tests.helpers import play_next, run_job
from tests.system_packages import ensure

pytestmark = pytest.mark.timeout(900)  # the first run on a fresh machine apt-installs Prometheus


class Prometheus:
    def __init__(self, directory: Path, target: str) -> None:
        binary = ensure("prometheus", "prometheus")
        self.addr = free_tcp().removeprefix("tcp://")
        config = directory / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: pixflow\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address={self.addr}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, 60, f"Prometheus to be ready (log: {directory / 'prometheus.log'})", interval=0.2)

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=5) as response:
            return json.loads(response.read() or b"{}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.addr}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, expression: str) -> float | None:
        answer = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
        result = answer["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


@pytest.fixture
def prometheus_and_worker(tmp_path, replay, start_worker) -> Iterator[tuple[Prometheus, object]]:
    running = start_worker(replay.url, metrics_addr="127.0.0.1:0")
    port = running.worker.ops.metrics.port
    assert port
    server = Prometheus(tmp_path, f"127.0.0.1:{port}")
    yield server, running
    server.stop()


def test_prometheus_scrapes_jobs_requests_events_and_backends(prometheus_and_worker, replay):
    prometheus, running = prometheus_and_worker
    client = running.client()
    wait_for(lambda: client.call("list_models")["models"], what="the worker to learn the replay's models")
    for index in range(3):
        assert run_job(client, f"ok-{index}")[-1][1]["to"] == "done"
    play_next(replay, "runtime_error")
    assert run_job(client, "broken")[-1][1]["to"] == "failed"
    client.call("pause")
    client.call("generate", id="waits", prompt="knight", size=[64, 64], steps=8, priority=5)

    expected = {
        'pixflow_jobs_finished_total{state="done"}': 3,
        'pixflow_jobs_finished_total{state="failed"}': 1,
        'pixflow_backend_failures_total{backend="local",reason="execution_error"}': 1,
        'pixflow_job_queue_wait_seconds_count{workflow="txt2img"}': 4,
        'pixflow_job_run_seconds_count{workflow="txt2img"}': 3,
        'pixflow_request_seconds_count{type="generate"}': 5,
        'pixflow_jobs_queued{band="high"}': 1,
        'pixflow_jobs_running{band="normal"}': 0,
        'pixflow_backend_up{backend="local"}': 1,
        'pixflow_backend_inflight{backend="local"}': 0,
        "pixflow_worker_paused": 1,
        'pixflow_job_stage_seconds_count{stage="sampling"}': 4,
    }
    for expression, value in expected.items():
        wait_for(lambda e=expression, v=value: prometheus.query(e) == v, 20, f"Prometheus: {expression} == {value}")
    assert (prometheus.query('pixflow_events_published_total{kind="job.state"}') or 0) >= 4 * 5
    assert (prometheus.query('pixflow_events_published_total{kind="job.progress"}') or 0) > 0
    assert (prometheus.query("pixflow_oldest_queued_job_age_seconds") or 0) > 0
    assert prometheus.query('up{job="pixflow"}') == 1


def test_the_metrics_follow_a_restart_and_count_disconnections():
    metrics = Metrics()
    metrics.seed([{"job_id": "a", "state": "sampling", "params": {"priority": -3}, "workflow": "w", "created_at": 1}])
    metrics.sample({"gpu0": (True, 1)}, paused=False, shutting_down=True)
    assert metrics.running.labels("low")._value.get() == 1
    assert metrics.shutting_down._value.get() == 1
    metrics.on_publish("backend.gpu0", {"name": "gpu0", "up": True, "inflight": 1})
    metrics.on_publish("backend.gpu0", {"name": "gpu0", "up": False, "inflight": 1, "reason": "x"})
    assert metrics.backend_failures.labels("gpu0", "disconnected")._value.get() == 1
    metrics.on_publish("job.state.a", {"job_id": "a", "from": "sampling", "to": "done", "ts": 5000, "backend": "gpu0"})
    assert metrics.finished.labels("done")._value.get() == 1
    assert [band(-1), band(0), band(7)] == ["low", "normal", "high"]
    assert [topic_kind(t) for t in ("job.state.x.y", "backend.a.b", "worker.stats")] == [
        "job.state",
        "backend",
        "worker.stats",
    ]


def test_a_busy_metrics_port_is_a_clear_error(replay, start_worker):
    from pixflow.errors import ConfigError

    taken = free_tcp().removeprefix("tcp://")
    first = start_worker(replay.url, metrics_addr=taken)
    assert first.worker.ops.metrics.port
    with pytest.raises(ConfigError, match="cannot serve metrics on"):
        start_worker(replay.url, metrics_addr=taken)
