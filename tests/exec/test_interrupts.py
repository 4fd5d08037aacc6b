"""A Ctrl-C at the exact moments a run is most exposed — the instant it is recorded as started,
and while its first rows are written — ends it `interrupted`, never `running`, with nothing lost.

The signal is raised by the store itself at that moment (a real DuckDB file under tmp_path, one
method wrapped), so the test does not race the run: it fails every time the watcher is late."""

from __future__ import annotations

import signal
from pathlib import Path

import duckdb
import pytest
import servers

from carbonc import api
from carbonc.exec import RunOptions
from carbonc.store import Store, open_store

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "dispute-spike.carbon"


class InterruptingStore:
    """A real store that raises SIGINT in this process as `method` is first called, right after
    the call has done its work."""

    def __init__(self, store: Store, method: str):
        self._store, self._method, self.raised = store, method, False

    def __getattr__(self, name: str):
        attribute = getattr(self._store, name)
        if name != self._method:
            return attribute

        def interrupted(*args, **kwargs):
            result = attribute(*args, **kwargs)
            if not self.raised:
                self.raised = True
                signal.raise_signal(signal.SIGINT)
            return result

        return interrupted


@pytest.mark.parametrize("moment", ["begin_run", "ingest"])
def test_an_interrupt_as_the_run_starts_ends_it_interrupted(moment: str, tmp_path: Path) -> None:
    plan = api.load_plan(SCENARIO, overrides={"baseline_orders": "50"})
    assert not isinstance(plan, api.CheckResult)
    db = tmp_path / "runs.duckdb"
    with servers.lax() as srv:
        prepared = api.prepare_run(plan, RunOptions(url=srv.url)).prepared
        store = InterruptingStore(open_store(db), moment)
        try:
            result = prepared.execute(store)  # type: ignore[arg-type]  # the wrapper stands in for a Store
        finally:
            store.close()
        sent = sum(r.method == "POST" for r in srv.requests)  # webhooks; an uninterrupted run's probes GET
    assert store.raised
    assert result.status == "interrupted" and result.error is None
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select status from runs").fetchall() == [("interrupted",)]
        assert con.execute("select count(*) from deliveries").fetchall() == [(sent,)]
    finally:
        con.close()
