"""100 events a second across 1,000 jobs: the monitor keeps up and stays responsive (see load_probe.py for the
full measurement and the numbers in docs/monitor.md). The bounds are loose on purpose: machines vary, and a busy
one (two cores shared with a ComfyUI) measured up to 4x the quiet figures."""

from __future__ import annotations

from tests.monitor.load_probe import measure_load


def test_a_thousand_jobs_at_a_hundred_events_a_second_stay_responsive():
    result = measure_load(jobs=1000, rate=100.0, seconds=5.0)
    print(result)  # shown with -s, for the record
    assert result["rows_shown"] >= 1000
    assert result["events_per_s_received"] >= 0.9 * result["events_per_s_published"]
    assert 3 <= result["refreshes_per_s"] <= 11  # coalesced to at most 10 a second, and not starved
    assert result["event_to_table_ms_p95"] < 1500
    assert result["key_to_selection_ms_p95"] < 500
    assert result["loop_lag_ms_p95"] < 500
