"""pixflow-monitor's parts without a screen: the model, resync, formatting, half-blocks, the answers to actions."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pixflow_monitor import commands
from pixflow_monitor.clock import FrozenClock
from pixflow_monitor.detail_text import error_text, params_text, timeline
from pixflow_monitor.format import age, duration, eta_seconds, fraction_of, job_fraction, row_cells
from pixflow_monitor.halfblock import LOWER, UPPER, HalfBlocks, decode, fit, rows_of
from pixflow_monitor.job_view import JobView
from pixflow_monitor.link import coalesce_previews
from pixflow_monitor.model import MonitorModel
from pixflow_monitor.request import Request
from pixflow_monitor.resync import PAGE, Resync
from pixflow_monitor.view import visible_jobs
from tests.monitor.monitor_fakes import RUN, T0, snapshot, sprite_png


def state_event(job_id: str, seq: int, source: str | None, dest: str, ts: int = T0, **fields: object) -> tuple:
    return f"job.state.{job_id}", {"ts": ts, "job_id": job_id, "seq": seq, "from": source, "to": dest, **fields}


def progress_event(job_id: str, seq: int, value: int, **fields: object) -> tuple:
    event = {"ts": T0, "job_id": job_id, "seq": seq, "stage": "sampling", "node": "3", "value": value, "max": 8}
    return f"job.progress.{job_id}", {**event, **fields}


# The model.
def test_a_job_first_seen_in_an_event_is_asked_about_and_the_newer_of_event_and_snapshot_wins():
    model = MonitorModel(FrozenClock(T0))
    model.apply_events([state_event("a", 1, None, "queued")])
    assert model.jobs["a"].state == "queued" and model.wanted == {"a"}
    later = snapshot("a", "knight", T0, RUN[:3], progress=(2, 8))  # seq 1 + 3 + 2 = 6
    model.apply_snapshot(later)
    assert model.jobs["a"].state == "sampling" and model.jobs["a"].has_snapshot and not model.wanted
    model.take_log()
    model.apply_events([state_event("a", 3, "loading", "encoding")])  # older than the snapshot: only logged
    assert model.jobs["a"].state == "sampling"
    assert [entry.text for entry in model.take_log()] == ["a loading → encoding"]
    model.apply_events([progress_event("a", 7, 3)])
    assert model.jobs["a"].progress == {"node": "3", "value": 3, "max": 8} and not model.wanted


def test_a_gap_in_seq_asks_for_status_and_an_older_snapshot_does_not_move_a_job_back():
    model = MonitorModel(FrozenClock(T0))
    model.apply_snapshot(snapshot("a", "knight", T0, RUN[:3], progress=(2, 8)))
    model.apply_events([progress_event("a", 9, 4)])  # 7 and 8 are missing
    assert "a" in model.wanted
    model.apply_snapshot(snapshot("a", "knight", T0, RUN[:2], progress=None))
    assert model.jobs["a"].state == "sampling" and model.jobs["a"].seq == 9


def test_a_job_that_starts_running_without_a_known_backend_is_asked_about():
    model = MonitorModel(FrozenClock(T0))
    model.apply_snapshot(snapshot("a", "knight", T0, [], progress=None))
    assert model.jobs["a"].backend is None and not model.wanted
    model.apply_events([state_event("a", 2, "queued", "loading")])
    assert model.wanted == {"a"}


def test_final_events_carry_outputs_and_errors_and_count_once_per_minute():
    clock = FrozenClock(T0 + 120_000)
    model = MonitorModel(clock)
    outputs = [{"index": 0, "path": "/out/a.png", "width": 64, "height": 64}]
    model.apply_events([state_event("a", 8, "saving", "done", ts=T0 + 61_000, outputs=outputs)])
    model.apply_events([state_event("b", 8, "saving", "failed", ts=T0 + 62_000, error={"code": "no_outcome"})])
    assert model.jobs["a"].outputs == outputs and model.jobs["b"].error == {"code": "no_outcome"}
    model.apply_snapshot(snapshot("a", "x", T0, [*RUN, ("done", 61_000)]))  # the same job again: counted once
    assert model.throughput(3) == [0, 2, 0]
    assert [entry.level for entry in model.take_log()] == ["info", "error"]


def test_counts_come_from_worker_stats_else_from_the_worker_reply():
    model = MonitorModel(FrozenClock(T0))
    model.apply_worker_status({"started_at": 1, "jobs": {"queued": 2, "sampling": 1, "saving": 1, "done": 5}})
    assert model.counts() == {"queued": 2, "running": 2, "done": 5, "failed": 0, "cancelled": 0}
    model.apply_event("worker.stats", {"ts": T0, "queued": 0, "running": 1, "done": 7, "failed": 1, "cancelled": 0})
    assert model.counts() == {"queued": 0, "running": 1, "done": 7, "failed": 1, "cancelled": 0}


def test_a_different_started_at_means_the_worker_restarted():
    model = MonitorModel(FrozenClock(T0))
    model.apply_worker_status({"started_at": 1})
    model.apply_snapshot(snapshot("a", "knight", T0, []))
    assert model.apply_worker_status({"started_at": 1}) is False and "a" in model.jobs
    assert model.apply_worker_status({"started_at": 2}) is True and not model.jobs
    assert not model.restart_pending  # a `worker` reply is the resync itself


def test_a_restart_seen_in_worker_stats_asks_for_a_resync_once():
    model = MonitorModel(FrozenClock(T0))
    model.apply_worker_status({"started_at": 1})
    model.apply_events([state_event("a", 1, None, "queued"), ("worker.stats", {"ts": T0, "started_at": 1})])
    assert not model.restart_pending and "a" in model.jobs
    model.apply_event("worker.stats", {"ts": T0 + 50, "started_at": 2})
    assert model.restart_pending and not model.jobs and model.seqs.seq_of("a") == 0
    assert model.apply_worker_status({"started_at": 2}) is False  # the resync's reply: already known
    assert model.note_started_at(2) is False  # a pong of the same worker (monitor.link's WorkerRestarted)


def test_paused_follows_the_newest_of_stats_and_answers():
    model = MonitorModel(FrozenClock(T0))
    assert model.paused is None  # a worker that never says
    model.apply_worker_status({"started_at": 1, "paused": True}, received_at=T0)
    model.apply_event("worker.stats", {"ts": T0 - 10, "paused": False})  # published before the answer
    assert model.paused is True
    model.apply_event("worker.stats", {"ts": T0 + 10, "paused": False})
    assert model.paused is False


def test_backend_changes_are_logged_when_health_changes():
    model = MonitorModel(FrozenClock(T0))
    model.apply_event("backend.local", {"ts": T0, "name": "local", "up": True, "version": "0.3.75"})
    model.apply_event("backend.local", {"ts": T0, "name": "local", "up": True, "inflight": 2})
    model.apply_event("backend.local", {"ts": T0, "name": "local", "up": False, "reason": "connection refused"})
    assert [entry.text for entry in model.take_log()] == [
        "backend local up (ComfyUI 0.3.75)",
        "backend local DOWN: connection refused",
    ]


def test_only_the_newest_preview_of_a_job_keeps_its_image_in_a_batch():
    events = [
        ("job.preview.a", {"seq": 1, "image": b"1"}),
        ("job.preview.b", {"seq": 1, "image": b"b"}),
        ("job.preview.a", {"seq": 2, "image": b"2"}),
    ]
    assert [event["image"] for _, event in coalesce_previews(events)] == [None, b"b", b"2"]


# Resync.
def test_resync_reads_status_then_pages_of_active_jobs_then_recent_finished_ones_then_stragglers():
    model = MonitorModel(FrozenClock(T0))
    model.apply_snapshot(snapshot("gone", "x", T0, RUN[:2]))  # believed active; the worker will not list it
    resync = Resync(model)
    (first,) = resync.begin()
    assert (first.kind, first.purpose) == ("status", "resync.worker")
    (page,) = resync.on_reply(first, {"type": "worker", "started_at": 5})
    assert page.fields["offset"] == 0 and "queued" in page.fields["state"]
    jobs = [snapshot(f"j{i}", "x", T0, RUN[:2]) for i in range(PAGE)]
    (second,) = resync.on_reply(page, {"type": "jobs", "jobs": jobs, "total": PAGE + 1, "offset": 0})
    assert second.fields["offset"] == PAGE
    last_page = {"type": "jobs", "jobs": [snapshot("last", "x", T0, [])], "total": PAGE + 1, "offset": PAGE}
    (finished,) = resync.on_reply(second, last_page)
    assert finished.purpose == "resync.finished" and set(finished.fields["state"]) == {"done", "failed", "cancelled"}
    stragglers = resync.on_reply(finished, {"type": "jobs", "jobs": [], "total": 0, "offset": 0})
    assert [(r.kind, r.job_id) for r in stragglers] == [("status", "gone")] and resync.done


def test_resync_pages_active_jobs_by_key_when_the_worker_gives_one():
    resync = Resync(MonitorModel(FrozenClock(T0)))
    (first,) = resync.begin()
    (page,) = resync.on_reply(first, {"type": "worker", "started_at": 5})
    jobs = [snapshot(f"j{i}", "x", T0, RUN[:2]) for i in range(PAGE)]
    reply = {"type": "jobs", "jobs": jobs, "total": PAGE + 1, "offset": 0, "next": f"j{PAGE - 1}"}
    (second,) = resync.on_reply(page, reply)
    assert second.fields["before"] == f"j{PAGE - 1}" and second.fields["offset"] == 0


def test_answers_to_an_earlier_resync_are_ignored():
    resync = Resync(MonitorModel(FrozenClock(T0)))
    (old,) = resync.begin()
    resync.begin()
    assert resync.on_reply(old, {"type": "worker", "started_at": 1}) == []


# What the table and the detail pane say.
@pytest.mark.parametrize(
    ("value", "fraction"),
    [(0.25, 0.25), (50, 0.5), ({"value": 3, "max": 4}, 0.75), (None, None), ("half", None), (True, None), (500, None)],
)
def test_overall_may_be_a_fraction_a_percentage_or_a_map(value, fraction):
    assert fraction_of(value) == fraction


def test_eta_may_be_seconds_left_or_an_absolute_time():
    assert eta_seconds(12.5, T0) == 12.5
    assert eta_seconds(T0 + 30_000, T0) == 30.0
    assert eta_seconds(None, T0) is None and eta_seconds("soon", T0) is None


def test_progress_uses_overall_when_the_worker_sends_it_else_the_sampler_steps():
    job = JobView("a", state="sampling", stage="sampling", progress={"node": "3", "value": 2, "max": 8})
    assert job_fraction(job) == 0.25
    job.overall = 0.6
    assert job_fraction(job) == 0.6
    assert job_fraction(JobView("q")) is None
    assert job_fraction(JobView("d", state="done")) == 1.0


def test_row_cells_show_eta_only_when_the_worker_sends_it():
    job = JobView("a", state="sampling", stage="sampling", progress={"node": "3", "value": 4, "max": 8})
    job.created_at, job.params, job.has_snapshot = T0 - 75_000, {"prompt": "a very long prompt indeed"}, True
    cells = row_cells(job, T0, 14, 10)
    assert (cells.prompt, cells.progress, cells.eta, cells.age) == ("a very lo…", "████░░░░  50%", "—", "1m15s")
    job.eta = 42
    assert row_cells(job, T0, 14, 10).eta == "42.0s"


def test_durations_and_ages():
    assert [duration(ms) for ms in (None, 5, 1500, 61_000, 7_300_000)] == ["—", "5ms", "1.5s", "1m01s", "2h01m"]
    assert [age(ms) for ms in (None, 999, 61_000, 7_300_000, 90_000_000)] == ["—", "0s", "1m01s", "2h01m", "1d01h"]


def test_timeline_gives_time_in_each_state_and_the_live_one_runs_to_now():
    job = JobView("a", state="sampling", state_times={"queued": 0, "loading": 400, "sampling": 1000})
    assert timeline(job, 5000) == [("queued", 0, 400), ("loading", 400, 600), ("sampling", 1000, 4000)]
    done = JobView("b", state="done", state_times={"queued": 0, "done": 0})
    assert timeline(done, 5000) == [("queued", 0, 0), ("done", 0, 0)]  # fully cached: same ms, still in order


def test_params_text_shows_every_parameter_and_unknown_ones_too():
    job = JobView("a", params={**snapshot("a", "knight", T0, [])["params"], "lora": "pixel.safetensors"})
    text = params_text(job).plain
    assert "prompt knight" in text and "seed 1000" in text and "size 64x64" in text and "lora pixel.safetensors" in text


def test_validation_errors_name_the_node_and_the_problem():
    error = {
        "code": "validation_error",
        "message": "Prompt outputs failed validation",
        "node_errors": {"4": {"class_type": "CheckpointLoaderSimple", "errors": [{"message": "Value not in list"}]}},
    }
    assert "node 4 (CheckpointLoaderSimple): Value not in list" in error_text(error).plain


# Half-blocks.
def test_whole_factor_scaling_up_when_small_and_down_when_large():
    assert fit(16, 16, 46, 16) == (32, 32)  # 2x: 32 columns, 16 rows
    assert fit(64, 64, 46, 16) == (32, 32)  # halved
    assert fit(512, 512, 46, 16) == (32, 32)  # a sixteenth
    assert fit(4, 2, 100, 100) == (16, 8)  # at most 4x


def test_half_blocks_are_exact_two_pixels_per_cell():
    image = Image.new("RGBA", (2, 3))
    colours = {(0, 0): (255, 0, 0, 255), (0, 1): (0, 0, 255, 255), (1, 0): (0, 0, 0, 0), (1, 1): (0, 255, 0, 255)}
    colours |= {(0, 2): (9, 9, 9, 255), (1, 2): (0, 0, 0, 0)}
    for xy, colour in colours.items():
        image.putpixel(xy, colour)
    rows = rows_of(image)
    cells = [(seg.text, seg.style.color, seg.style.bgcolor) for line in rows for seg in line for _ in seg.text]
    triplets = [(text[0], color.triplet if color else None, bg.triplet if bg else None) for text, color, bg in cells]
    assert triplets == [
        (UPPER, (255, 0, 0), (0, 0, 255)),  # red over blue
        (LOWER, (0, 255, 0), None),  # transparent over green: the lower half block, background shows
        (UPPER, (9, 9, 9), None),  # an odd last row
        (" ", None, None),
    ]


def test_the_sprite_keeps_every_pixel_when_scaled_up():
    sprite = decode(sprite_png())
    lines = HalfBlocks(sprite, max_rows=16).lines(46)
    assert len(lines) == 16 and sum(len(segment.text) for segment in lines[0]) == 32
    scaled = sprite.resize((32, 32), Image.Resampling.NEAREST)
    for row, line in enumerate(lines):
        column = 0
        for segment in line:
            for _ in segment.text:
                assert segment.style.color.triplet == scaled.getpixel((column, row * 2))[:3]
                assert segment.style.bgcolor.triplet == scaled.getpixel((column, row * 2 + 1))[:3]
                column += 1


def test_jpeg_previews_decode_too():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="JPEG")
    assert decode(buffer.getvalue()).size == (8, 8)


# The answers to actions.
def test_an_unknown_request_type_is_shown_as_the_worker_said_it():
    text, severity = commands.describe(
        commands.pause(), {"type": "error", "code": "unknown_type", "message": "unknown request type 'pause'"}
    )
    assert text == "pause: the worker answered unknown_type: unknown request type 'pause'" and severity == "error"


def test_answers_are_phrased_from_the_reply():
    assert commands.describe(commands.cancel("a"), {"type": "job", "state": "sampling"})[0] == (
        "cancel a: cancel requested, the job is sampling now"
    )
    assert commands.describe(commands.resume(), {"type": "worker", "paused": False})[0] == (
        "resume: the worker answered: dispatch is running"
    )
    assert commands.describe(commands.pause(), {"type": "ok", "v": 1, "req_id": 3, "note": "later"})[0] == (
        "pause: the worker answered ok (note='later')"
    )
    failure = commands.describe_failure(commands.cancel("a"), "timeout", "no reply within 3s")
    assert failure == ("cancel a: no answer (timeout: no reply within 3s)", "error")


def test_retry_sends_the_validated_parameters_and_the_workflow_under_a_new_id():
    failed = snapshot("a" * 128, "knight", T0, [("failed", 10)], seed=99)
    request = commands.retry_generate(failed, commands.retry_id(failed["job_id"]))
    assert request.kind == "generate" and request.fields["seed"] == 99 and request.fields["workflow"] == "txt2img"
    assert len(request.fields["id"]) == 128 and request.fields["id"] != failed["job_id"]
    assert "model" not in request.fields  # nil parameters are left to the worker's defaults


# Which jobs the table shows.
def test_finished_jobs_age_out_of_the_default_view_but_not_of_the_state_filters():
    model = MonitorModel(FrozenClock(T0))
    done = [*RUN, ("done", 9800)]
    for snap in (
        snapshot("old", "x", T0 - 200_000, done),
        snapshot("recent", "x", T0 - 30_000, done),
        snapshot("running", "x", T0 - 5_000, RUN[:3]),
        snapshot("queued", "x", T0 - 1_000, []),
    ):
        model.apply_snapshot(snap)

    def shown(state_filter: str, *keep: str) -> list[str]:
        return [job.job_id for job in visible_jobs(model.jobs.values(), state_filter, T0, 60_000, set(keep))]

    assert shown("all") == ["queued", "running", "recent"]
    assert shown("done") == ["recent", "old"]
    assert shown("running") == ["running"] and shown("active") == ["queued", "running"]
    assert shown("all", "old") == ["queued", "running", "recent", "old"]  # selected or looked up: stays


def test_requests_describe_themselves():
    assert Request("cancel", {"job_id": "a"}, job_id="a").describe() == "cancel a"


def test_a_jobs_compare_group_comes_from_its_creation_event_or_a_snapshot_and_filters_the_table():
    model = MonitorModel(FrozenClock(T0))
    model.apply_events([state_event("g-1", 1, None, "queued", group_id="g")])
    model.apply_snapshot({**snapshot("g-2", "knight", T0, RUN[:2]), "group_id": "g"})
    model.apply_snapshot(snapshot("solo", "knight", T0, RUN[:2]))
    assert (model.jobs["g-1"].group_id, model.jobs["g-2"].group_id, model.jobs["solo"].group_id) == ("g", "g", None)
    shown = visible_jobs(model.jobs.values(), "group:g", T0, 60_000, keep=set())
    assert sorted(job.job_id for job in shown) == ["g-1", "g-2"]
    assert "group g" in params_text(model.jobs["g-2"]).plain
    assert "group" not in params_text(model.jobs["solo"]).plain


def test_a_queued_job_shows_no_eta_once_the_worker_says_none_or_is_paused_and_says_why_it_waits():
    model = MonitorModel(FrozenClock(T0))
    queued = {**snapshot("q", "knight", T0, []), "eta": 12.0, "wait_reason": "waiting for a free slot on local"}
    model.apply_snapshot(queued)
    assert model.jobs["q"].eta == 12.0
    model.apply_snapshot({**queued, "seq": queued["seq"] + 1, "eta": None})  # the worker's word: none now
    assert model.jobs["q"].eta is None and row_cells(model.jobs["q"], T0, 14, 10).eta == "—"
    model.apply_snapshot({**queued, "seq": queued["seq"] + 2})
    model.apply_events([("worker.stats", {"ts": T0 + 1, "paused": True, "started_at": T0 - 1})])
    job = model.jobs["q"]
    assert job.eta is None and "paused" in (job.wait_reason or "") and "q" in model.changed_jobs
    # An older worker's snapshot while paused: its ETA and "free slot" are not what the job waits for.
    model.apply_snapshot({**queued, "seq": queued["seq"] + 3})
    assert job.eta is None and job.wait_reason is not None and job.wait_reason.startswith("the worker is paused")
    model.apply_events([("worker.stats", {"ts": T0 + 2, "paused": False, "started_at": T0 - 1})])
    assert job.wait_reason is None


def test_long_ids_keep_their_end_in_the_table_so_a_groups_jobs_differ():
    from pixflow_monitor.format import id_excerpt

    ids = [f"0123456789abcdef0123456789abcdef-{n}" for n in (1, 2, 10)]
    shown = [id_excerpt(job_id, 14) for job_id in ids]
    assert len(set(shown)) == 3 and all(len(text) == 14 for text in shown), shown
    assert shown == ["012345…bcdef-1", "012345…bcdef-2", "012345…cdef-10"]
    assert id_excerpt("short-1", 14) == "short-1"
