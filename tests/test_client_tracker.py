"""The pure bookkeeping shared by the client's follow and the monitor: seq gaps, snapshots, restarts."""

from __future__ import annotations

from pixflow.client.tracker import JobFollower, Seen, SeqTracker, WorkerIdentity


def test_seq_tracker_tells_new_gap_and_stale() -> None:
    seqs = SeqTracker()
    assert seqs.event("a", 1) is Seen.NEW
    assert seqs.event("a", 2) is Seen.NEW
    assert seqs.event("a", 2) is Seen.STALE
    assert seqs.event("a", 5) is Seen.GAP
    assert seqs.event("b", 3) is Seen.GAP  # first heard of after its start: joined late
    assert not seqs.snapshot("a", 4)  # older than the events seen
    assert seqs.snapshot("a", 9) and seqs.event("a", 8) is Seen.STALE and seqs.event("a", 10) is Seen.NEW
    seqs.forget("a")
    assert seqs.seq_of("a") == 0


def test_worker_identity_counts_restarts_not_the_first_sight() -> None:
    identity = WorkerIdentity()
    assert not identity.observe(None) and not identity.observe(True)
    assert not identity.observe(1000) and not identity.observe(1000)
    assert identity.observe(2000) and identity.restarts == 1 and identity.started_at == 2000


def test_follower_merges_a_snapshot_only_when_it_tells_something_new() -> None:
    follower = JobFollower({"a"}, to_read=set())
    assert follower.take("job.state.a", {"job_id": "a", "seq": 1, "from": None, "to": "queued"})
    assert follower.take("job.progress.a", {"job_id": "a", "seq": 4}) and follower.to_read == {"a"}  # a gap
    same_state = {"job_id": "a", "seq": 4, "state": "queued"}
    assert follower.take_snapshot(same_state) is None and not follower.to_read  # only progress was missed
    topic, event = follower.take_snapshot({"job_id": "a", "seq": 9, "state": "done", "outputs": [{"index": 0}]}) or (
        "",
        {},
    )
    assert topic == "job.state.a" and event["from"] == "queued" and event["to"] == "done" and event["synthetic"]
    assert event["outputs"] == [{"index": 0}] and not follower.wanted
    assert follower.wants("job.state.a", {"job_id": "a"}) is False  # over: nothing more is wanted


def test_follower_wants_exact_topics_only() -> None:
    follower = JobFollower({"sprite-1"}, to_read=set())
    assert follower.wants("job.preview.sprite-1", {"job_id": "sprite-1"})
    assert not follower.wants("job.state.sprite-10", {"job_id": "sprite-10"})
    assert not follower.wants("backend.sprite-1", {"job_id": "sprite-1"})
