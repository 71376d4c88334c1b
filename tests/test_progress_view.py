"""The progress view: rich bars with steps and ETA on a terminal, plain lines elsewhere (see also test_cli.py)."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import sys
import time

from pixflow.cli.progress_view import ProgressPrinter, print_result
from tests.helpers import REPO

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _events(job_id: str) -> list[tuple[str, dict]]:
    states = [("job.state.", {"to": state}) for state in ("loading", "encoding", "sampling")]
    steps = [("job.progress.", {"value": value, "max": 8}) for value in (1, 2, 3)]
    return [(f"{topic}{job_id}", {"job_id": job_id, **event}) for topic, event in [*states, *steps]]


def test_on_a_terminal_each_job_has_a_bar_with_its_step_and_eta():
    screen = Terminal()
    with ProgressPrinter(screen) as printer:
        for topic, event in _events("job-a"):
            printer.show(topic, event)
        printer.echo("  /out/job-a_00.png  (64x64)")
    text = ANSI.sub("", screen.getvalue())
    assert "job-a" in text and "sampling" in text and "3/8" in text and "ETA " in text, text
    assert "━" in text  # rich's bar
    assert "/out/job-a_00.png  (64x64)" in text


def test_elsewhere_one_plain_line_per_state_change():
    stream = io.StringIO()
    with ProgressPrinter(stream) as printer:
        for topic, event in _events("job-b"):
            printer.show(topic, event)
        print_result({"state": "failed", "error": {"message": "boom"}}, printer.echo)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines[:3]] == ["loading", "encoding", "sampling"]
    assert lines[3] == "  failed: boom" and "\x1b" not in stream.getvalue()


def test_the_demo_on_a_real_terminal_draws_bars_and_prints_every_image(tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo on the pseudo-terminal
        os.environ.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": "120"})
        argv = [sys.executable, "-m", "pixflow.cli", "demo", "--speed", "0", "--output-dir", str(tmp_path)]
        os.execv(sys.executable, argv)
    screen, deadline, exit_code = b"", time.monotonic() + 60, None
    try:
        while exit_code is None and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            try:
                screen += os.read(fd, 65536) if ready else b""
            except OSError:  # EIO: the child has ended and closed the terminal
                exit_code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        if exit_code is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    text = ANSI.sub("", screen.decode(errors="replace"))
    assert exit_code == 0, text[-2000:]
    assert text.count("(64x64)") == 3 and "━" in text and "done" in text, text[-2000:]


def test_a_compare_groups_ids_are_shown_whole_so_each_job_is_told_apart():
    """A group's ids are `<group id>-1`, `-2`, ...: cut to 12 characters, every line looked the same."""
    ids = [f"0123456789abcdef0123456789abcdef-{n}" for n in (1, 2)]
    plain = io.StringIO()
    with ProgressPrinter(plain, job_ids=ids) as printer:
        for job_id in ids:
            printer.show(f"job.state.{job_id}", {"job_id": job_id, "to": "loading"})
    assert [line.split()[0] for line in plain.getvalue().splitlines()] == ids
    screen = Terminal()
    with ProgressPrinter(screen, job_ids=ids) as printer:
        for job_id in ids:
            printer.show(f"job.state.{job_id}", {"job_id": job_id, "to": "loading"})
    text = ANSI.sub("", screen.getvalue())
    assert all(job_id in text for job_id in ids), text


def test_workflow_limits_are_printed_whole_not_as_floats():
    from pixflow.cli.workflow_args import _range

    assert _range({"min": 0, "max": 18446744073709551615, "step": None}) == "0..18446744073709551615"
    assert _range({"min": 0.0, "max": 100.0, "step": 0.5}) == "0..100 step 0.5"
