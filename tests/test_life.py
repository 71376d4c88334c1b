"""The table of a job's life (jobs/life.py), checked on the table itself: total, no dead rows, the protocol's rules
on states kept, the phase graph as drawn; and docs/architecture.md shows the same table."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest

from pixflow.comfy.nodes import stage_for
from pixflow.jobs import life
from pixflow.jobs.dispatch import ON_BACKEND, Phase
from pixflow.jobs.life import LIVE, TABLE, Effect, Event, Facts, NoRule, Rule, When, decide
from pixflow.vocabulary import STAGES, TERMINAL, JobState
from tests.helpers import REPO

W, S, WD, R, SU, F, E = (Phase.WAITING, Phase.SUBMITTED, Phase.WITHDRAWING, Phase.RECONCILING, Phase.SUCCEEDED,
                         Phase.FETCHING, Phase.ENDED)  # fmt: skip
EVERY_FACTS = [
    Facts(*values) for values in itertools.product([False, True], repeat=len(fields(Facts)))
]  # fmt: skip


@pytest.mark.parametrize(("event", "phase"), list(itertools.product(Event, sorted(LIVE))))
def test_every_event_in_every_live_phase_has_a_row_whatever_the_facts(event: Event, phase: Phase) -> None:
    for facts in EVERY_FACTS:
        rule = decide(event, phase, lambda facts=facts: facts)  # type: ignore[misc]
        assert event == rule.event and phase in rule.phases


def test_no_row_is_dead() -> None:
    """A row after an unconditional one for the same event and phase would never be chosen."""
    for event, phase in itertools.product(Event, LIVE):
        rules = [rule for rule in TABLE if rule.event == event and phase in rule.phases]
        whens = [rule.when for rule in rules]
        assert whens[-1] == When.ALWAYS and When.ALWAYS not in whens[:-1], (event, phase, whens)
        assert len(set(whens)) == len(whens), (event, phase, whens)


def test_an_ended_job_is_left_alone() -> None:
    for event in Event:
        assert decide(event, E, Facts).ignores


def test_conditions_are_read_only_when_a_row_has_one() -> None:
    def never() -> Facts:
        raise AssertionError("facts read")

    assert decide(Event.PROGRESS, S, never).effects == (Effect.NOTE_PROGRESS, Effect.TOUCH)


def test_the_state_moves_keep_the_protocol() -> None:
    for rule in TABLE:
        if rule.state == JobState.QUEUED:  # queued is re-entered only by a job taken back to be sent again
            assert rule.phase == W and Effect.REQUEUE in rule.effects and rule.phases <= ON_BACKEND, rule
        if rule.failure is not None:
            assert rule.state == JobState.FAILED, rule
        if rule.state == JobState.FAILED:
            assert rule.failure is not None, rule
        if rule.state in TERMINAL:
            assert rule.phase is None, rule  # a final state ends the phase: the shell makes it ENDED
        assert not (rule.to_stage and rule.state is not None), rule
    stage_rows = [rule for rule in TABLE if rule.to_stage]
    assert [rule.event for rule in stage_rows] == [Event.STAGE]


def test_only_done_comes_from_saved_images() -> None:
    assert {rule.event for rule in TABLE if rule.state == JobState.DONE} == {Event.SAVED}


def test_the_phase_graph_is_the_one_drawn_in_dispatch() -> None:
    assert life.phase_moves() == {
        W: {S, E},
        S: {R, SU, WD, W, E},
        WD: {S, R, SU, W, E},
        R: {S, SU, F, W, E},
        SU: {F, R, W, E},
        F: {E},
        E: set(),
    }


def test_a_job_is_sent_only_from_the_queue_and_is_saved_before_its_post() -> None:
    sends = [rule for rule in TABLE if Effect.SUBMIT in rule.effects]
    assert [rule.phases for rule in sends] == [frozenset({W})]
    effects = sends[0].effects
    assert effects.index(Effect.SAVE) < effects.index(Effect.SUBMIT)


def test_a_cancel_on_a_backend_is_asked_of_comfyui_and_escalates_later() -> None:
    rule = decide(Event.CANCEL_ASKED, S, lambda: Facts(backend_down=False))
    assert rule.state is None and Effect.CANCEL_PROMPT in rule.effects and Effect.ESCALATE_LATER in rule.effects
    assert decide(Event.CANCEL_ASKED, S, lambda: Facts(backend_down=True)).state == JobState.CANCELLED
    assert decide(Event.CANCEL_ASKED, W, Facts).state == JobState.CANCELLED
    assert decide(Event.CANCEL_ASKED, F, Facts).state is None  # too late: it ends done


def test_a_lost_prompt_is_sent_again_until_its_attempts_run_out() -> None:
    assert decide(Event.FOUND_NOTHING, R, lambda: Facts(attempts_left=True)).state == JobState.QUEUED
    assert decide(Event.FOUND_NOTHING, R, lambda: Facts(attempts_left=False)).failure == "lost"
    assert decide(Event.FOUND_NOTHING, R, lambda: Facts(cancel_asked=True)).state == JobState.CANCELLED
    assert decide(Event.FOUND_NOTHING, S, Facts).ignores  # its events came back meanwhile


def test_entering_the_current_stage_is_no_move_and_an_earlier_one_is_a_new_pass() -> None:
    assert life.state_after(JobState.SAMPLING, JobState.SAMPLING) is None
    assert life.state_after(JobState.QUEUED, JobState.QUEUED) is None
    assert life.state_after(JobState.SAMPLING, JobState.DECODING) == JobState.DECODING
    with pytest.raises(NoRule):
        life.state_after(JobState.DONE, JobState.SAMPLING)
    assert life.new_pass(JobState.DECODING, JobState.ENCODING)
    assert not life.new_pass(JobState.ENCODING, JobState.SAMPLING)
    assert not life.new_pass(JobState.QUEUED, JobState.LOADING)
    assert all(not life.new_pass(stage, stage) for stage in STAGES)


def test_stage_mapping_defaults_and_workflow_overrides() -> None:
    assert stage_for("CheckpointLoaderSimple") == JobState.LOADING
    assert stage_for("LoraLoader") == JobState.LOADING
    assert stage_for("CLIPTextEncode") == JobState.ENCODING
    assert stage_for("VAEEncode") == JobState.ENCODING
    assert stage_for("KSamplerAdvanced") == JobState.SAMPLING
    assert stage_for("SamplerCustomAdvanced") == JobState.SAMPLING
    assert stage_for("VAEDecodeTiled") == JobState.DECODING
    assert stage_for("SaveImage") == JobState.SAVING
    assert stage_for("EmptyLatentImage") is None
    assert stage_for("MySampler", {"MySampler": JobState.SAMPLING}) == JobState.SAMPLING
    assert stage_for("KSampler", {"KSampler": JobState.DECODING}) == JobState.DECODING


def _phases(rule: Rule) -> str:
    return ", ".join(phase.value for phase in Phase if phase in rule.phases)


def render_table() -> str:
    """The table as docs/architecture.md shows it (between its `life-table` markers)."""
    lines = ["| event | phases | when | state | phase | effects | why |", "|---|---|---|---|---|---|---|"]
    for rule in TABLE:
        if rule.ignores:
            continue
        state = "the stage" if rule.to_stage else (rule.state.value if rule.state else "")
        if rule.failure is not None:
            state += f" ({rule.failure.value})"
        when = "" if rule.when == When.ALWAYS else rule.when.value
        effects = ", ".join(effect.value for effect in rule.effects)
        phase = rule.phase.value if rule.phase else ("ended" if rule.state in TERMINAL else "")
        lines.append(f"| {rule.event.value} | {_phases(rule)} | {when} | {state} | {phase} | {effects} | {rule.why} |")
    return "\n".join(lines)


def test_docs_show_the_table_as_it_is() -> None:
    text = (REPO / "docs/architecture.md").read_text()
    start, end = "<!-- life-table -->\n", "\n<!-- /life-table -->"
    shown = text[text.index(start) + len(start) : text.index(end)]
    assert shown == render_table(), "docs/architecture.md: run `python -m tests.test_life` and paste its output"


if __name__ == "__main__":
    print(render_table())
