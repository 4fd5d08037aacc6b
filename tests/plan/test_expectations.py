"""Every bundled scenario's `expect` lines over entity counts hold on its own plan, evaluated
on the IR (a cross-check of the plan's folded checks, which `test_checks.py` evaluates).

Checks over deliveries and messages need the executor; they are skipped here. Counts are of
final states (`payments.captured` is the payments that end captured).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plan_helpers import SCENARIOS, compile_file

from carbonc.api import check_path
from carbonc.compiler.params import resolve_params
from carbonc.domain.values import NotConstant
from carbonc.ir import nodes as ir
from carbonc.ir.values import evaluate
from carbonc.ir.walk import subexpressions
from carbonc.plan.judge import entity_metrics


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_entity_expectations_hold(path: Path) -> None:
    checked = check_path(path)
    assert checked.ok and checked.program is not None
    scenario = checked.program.scenarios[0]
    plan = compile_file(path)
    env = dict(resolve_params(scenario, checked.program.param_types[scenario.name.name], {}))
    env.update(entity_metrics(plan.summary))
    evaluated = 0
    for check in scenario.checks:
        if not isinstance(check, ir.Expect):
            continue
        names = {n.dotted for n in subexpressions(check.condition) if isinstance(n, ir.Name)}
        if any(n.startswith(("deliveries", "messages")) for n in names):
            continue
        try:
            holds = evaluate(check.condition, env)
        except NotConstant:
            continue
        line = check.span.line
        assert holds is True, f"{path.name}:{line}: expect does not hold on the plan"
        evaluated += 1
    assert evaluated > 0, "no expectation was evaluated"
