"""The progress line drawn on a terminal while a run goes."""

from __future__ import annotations

from carbonc.exec.tally import Tally
from carbonc.report import progress_line
from carbonc.store.rows import DeliveryRow


def attempt(tally: Tally, n: int) -> None:
    row = DeliveryRow("r", f"m{n}/1", f"m{n}", 1, "payment.captured", "valid", 0, 0, 200, 1.0, None, "2xx", False,
                      "accept", True, "{}", "ok")
    tally.attempt(row, None, last=True)


def test_progress_shows_done_rate_and_eta():
    tally = Tally(messages_planned=400)
    for n in range(100):
        attempt(tally, n)
    line = progress_line(tally, elapsed_s=2.0, width=20)
    assert line == "[#####---------------] 100/400 messages  100 deliveries  50/s  ETA 6s"


def test_progress_before_anything_is_done():
    assert progress_line(Tally(messages_planned=10), elapsed_s=0.0, width=4) == \
        "[----] 0/10 messages  0 deliveries  0/s  ETA -"


def test_after_a_first_ctrl_c_the_progress_line_says_what_it_waits_for() -> None:
    from carbonc.exec.tally import Tally
    from carbonc.report.run import progress_line

    tally = Tally(100)
    tally.stopping, tally.in_flight = True, 7
    assert progress_line(tally, 3.0) == ("stopping: waiting for 7 requests in flight "
                                         "— press Ctrl-C again to abandon them")
