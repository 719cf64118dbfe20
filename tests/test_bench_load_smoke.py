"""The load benchmark's harness still runs end to end (a few seconds, few connections): the
plan records each variant's SQL, both servers answer every variant, the figures come back.
No speed is asserted here; `make bench B=load` measures."""

from __future__ import annotations

import pytest


def test_the_load_harness_runs_and_reports_its_figures(settings, monkeypatch, tmp_path):
    from ducha.bench import load
    from ducha.settings import get_settings

    for k in ("RATE_LIMIT_PER_USER", "RATE_LIMIT_PER_TENANT"):
        monkeypatch.setenv(k, "0")
    try:
        out = load.run(duration=4, baseline_duration=2, connections=4, tool="auto", warmup=0, threads=1,
                       profile=str(tmp_path / "api.txt"), rounds=2)
    finally:
        get_settings.cache_clear()
    assert out["errors"] == 0 and out["baseline_errors"] == 0
    assert out["requests"] > 0 and out["rps"] > 0 and out["baseline_rps"] > 0
    assert out["ratio"] == pytest.approx(out["rps"] / out["baseline_rps"], rel=0.01)
    assert out["variants"] >= 40 and out["sql_per_request"] > 2
    # the two servers took the load in turns: a round each
    assert len(out["round_rps"]) == len(out["baseline_round_rps"]) == out["rounds"] == 2
    for k in ("cpu_ms_per_request", "baseline_cpu_ms_per_request"):
        assert out[k] is None or out[k] > 0
    # --profile: py-spy's collapsed stacks of the API under the load, the endpoint among them
    stacks = (tmp_path / "api.txt").read_text(encoding="utf-8")
    assert "GraphQLEndpoint" in stacks


def test_the_breakdown_reports_each_operation_and_the_fixed_cost(settings, monkeypatch):
    from ducha.bench import load
    from ducha.settings import get_settings

    try:
        out = load.breakdown(2)
    finally:
        get_settings.cache_clear()
    per_op = out["cpu_ms_per_request"]
    assert set(load.MIX) <= set(per_op) and "{ __typename }" in per_op
    assert all(v > 0 for v in per_op.values()) and out["mix_cpu_ms"] > 0
