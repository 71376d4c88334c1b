"""The split of waiting work over backends that run different checkpoints (pixflow/scheduling/split.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pixflow.scheduling.fits import _primary
from pixflow.scheduling.split import Capacity, _flow, needed, split

A, B, C = "a", "b", "c"


def test_the_narrow_backend_gets_the_shared_model_and_the_wide_one_the_rest() -> None:
    wide = Capacity("wide", 1.0, 0.0, frozenset({A, B}))
    narrow = Capacity("narrow", 1.0, 0.0, frozenset({B}))
    result = split({A: 6, B: 2}, [wide, narrow])
    assert abs(result.horizon - 6.0) < 1e-3  # A alone keeps wide busy 6 s; the B jobs fit on narrow meanwhile
    assert abs(result.share("wide", A) - 6) < 1e-3 and abs(result.share("narrow", B) - 2) < 1e-3


def test_a_slow_backend_takes_a_share_in_proportion_to_its_speed() -> None:
    fast = Capacity("fast", 1.0, 0.0, frozenset({A}))
    slow = Capacity("slow", 3.0, 0.0, frozenset({A}))
    result = split({A: 8}, [fast, slow])
    assert abs(result.horizon - 6.0) < 1e-3 and abs(result.share("slow", A) - 2) < 1e-3


def test_a_loaded_model_stays_where_it_is_loaded_when_that_costs_nothing() -> None:
    one = Capacity("one", 1.0, 0.0, frozenset({A, B}), loaded=B)
    two = Capacity("two", 1.0, 0.0, frozenset({A, B}), loaded=A)
    result = split({A: 3, B: 3}, [one, two])
    assert abs(result.share("one", B) - 3) < 1e-3 and abs(result.share("two", A) - 3) < 1e-3


def test_no_split_is_needed_when_every_backend_runs_every_waiting_model() -> None:
    both = [Capacity("x", 1.0, 0.0, frozenset({A, B})), Capacity("y", 1.0, 0.0, frozenset({A, B, C}))]
    assert not needed({A: 3, B: 1}, both)
    assert needed({C: 1}, both)


capacities = st.lists(
    st.builds(
        Capacity,
        name=st.just(""),
        seconds_per_job=st.sampled_from([0.1, 0.5, 1.0, 3.0]),
        backlog=st.sampled_from([0.0, 0.5, 2.0]),
        checkpoints=st.frozensets(st.sampled_from([A, B, C]), min_size=1),
        loaded=st.sampled_from([None, A, B, C]),
    ),
    min_size=1,
    max_size=5,
).map(
    lambda pool: [
        Capacity(f"gpu{i}", b.seconds_per_job, b.backlog, b.checkpoints, b.loaded) for i, b in enumerate(pool)
    ]
)


@settings(max_examples=200, deadline=None)
@given(capacities, st.dictionaries(st.sampled_from([A, B, C]), st.integers(1, 40)))
def test_every_waiting_job_is_split_to_a_backend_that_runs_it_within_the_least_horizon(
    pool: list[Capacity], waiting: dict[str, int]
) -> None:
    runnable = {model: count for model, count in waiting.items() if any(model in b.checkpoints for b in pool)}
    result = split(runnable, pool)
    by_name = {b.name: b for b in pool}
    for model, count in runnable.items():
        assert abs(sum(result.share(b.name, model) for b in pool) - count) < 1e-4
    for (name, model), jobs in result.quotas.items():
        backend = by_name[name]
        assert model in backend.checkpoints and jobs > 0
    for backend in pool:
        work = sum(jobs for (name, _), jobs in result.quotas.items() if name == backend.name)
        if work:
            assert backend.backlog + work * backend.seconds_per_job <= result.horizon + 1e-6
    if runnable:  # and no shorter horizon holds them all
        shorter = result.horizon * (1 - 1e-4) - 1e-9
        assert sum(_flow({k: float(v) for k, v in runnable.items()}, pool, shorter).values()) < sum(runnable.values())


def test_a_backend_keeps_to_one_checkpoint_of_its_share() -> None:
    assert _primary({A: 3.0, B: 10.0}, loaded=A, switch_jobs=2.0) == A  # loaded, and still given jobs of it
    assert _primary({A: 0.2, B: 10.0}, loaded=A, switch_jobs=2.0) == B  # its share of A is done: worth a switch
    assert _primary({A: 0.2, B: 1.5}, loaded=A, switch_jobs=2.0) is None  # not worth a switch: no preference
    assert _primary({A: 3.0, B: 10.0}, loaded=None, switch_jobs=2.0) == B  # nothing loaded: its largest share
    assert _primary({}, loaded=None, switch_jobs=2.0) is None
