"""`python -m bench.run` keeps working: its parsing, verdicts and plot drawing exactly, and a
one-second pass of its workloads on both databases (docs/decisions/0022).

It needs wrk and polars, which `scripts/install --bench` brings (scripts/test uses it).
"""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from bench.plots import sweep_svg
from bench.run import Database, Goal, Result, Sample, Sizes, parse_wrk, run, table

ROOT = Path(__file__).resolve().parents[2]
WRK_REPORT = """Running 2s test @ http://127.0.0.1:19500/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.00ms  20.00ms   90.00%
  Latency Distribution
     50%    1.50ms
     75%    2.00ms
     90%    3.00ms
     99%    1.20s
  24000 requests in 2.00s, 3.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 4
Requests/sec:  12000.50
Transfer/sec:      1.50MB
"""
TINY = Sizes(
    seconds=1,
    list_lines=300,
    list_suppressions=150,
    import_rows=200,
    one_click_links=200,
    sweep=(4,),
    large_list_lines=3_000,
    contention_rows=30_000,
    contention_opt_outs=4,
)


def test_wrk_report_is_read_exactly() -> None:
    sample = parse_wrk(WRK_REPORT)

    assert sample == Sample(
        throughput=12000.5, p50_ms=1.5, p99_ms=1200.0, failures=7, detail={"requests": 24000}
    )


def test_goal_needs_ratio_latency_and_no_failures() -> None:
    goal = Goal(min_ratio=0.5, max_p99_ms=50, text="")

    assert goal.met(ratio=0.5, p99_ms=50.0, failures=0) is True
    assert goal.met(ratio=0.49, p99_ms=10.0, failures=0) is False
    assert goal.met(ratio=0.9, p99_ms=50.1, failures=0) is False
    assert goal.met(ratio=0.9, p99_ms=None, failures=0) is False
    assert goal.met(ratio=0.9, p99_ms=10.0, failures=1) is False
    assert Goal(min_ratio=0.35, max_p99_ms=None, text="").met(ratio=0.35, p99_ms=None, failures=0)


def test_goal_with_a_memory_bound_needs_the_memory_measured_and_within_it() -> None:
    goal = Goal(min_ratio=0.5, max_p99_ms=None, text="", max_rss_mb=2048)

    assert goal.met(ratio=0.5, p99_ms=None, failures=0, rss_mb=2048.0) is True
    assert goal.met(ratio=0.5, p99_ms=None, failures=0, rss_mb=2048.1) is False
    assert goal.met(ratio=0.5, p99_ms=None, failures=0, rss_mb=None) is False


def test_table_prints_ratio_goal_and_verdict() -> None:
    result = Result(
        workload="w3-import",
        database="sqlite",
        what="",
        ceiling_what="",
        goal=">= 0.35x ceiling",
        rounds=[],
        optledger_throughput=40_000.4,
        ceiling_throughput=100_000.0,
        optledger_p99_ms=None,
        ceiling_p99_ms=None,
        optledger_peak_rss_mb=73.4,
        ratio=0.4,
        failures=0,
        passed=True,
    )
    failed = replace(result, failures=3, passed=False)

    assert table([result]).splitlines()[2] == (
        "| w3-import | sqlite | 40,000/s | — | 73 MB | 100,000/s | — | 0.40x "
        "| >= 0.35x ceiling | PASS |"
    )
    assert table([failed]).splitlines()[2].endswith("| MISS (3 failed) |")


def test_sweep_plot_has_both_panels_and_lines() -> None:
    points = [
        {"connections": 4, "throughput": 100.0, "p99_ms": 2.0},
        {"connections": 64, "throughput": 1000.0, "p99_ms": 20.0},
    ]
    svg = sweep_svg(title="w1 on sqlite", ceiling=points, optledger=points[:1])

    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.count("<polyline") == 4  # two series in each of two panels
    assert svg.count("<circle") == 6
    assert ">requests/s<" in svg
    assert ">p99 (ms)<" in svg


def test_a_short_run_measures_each_workload_against_its_ceiling(
    empty_database_url: str, tmp_path: Path
) -> None:
    if empty_database_url.startswith("sqlite"):
        target = Database(kind="sqlite")
    else:  # a database of this test's own: the bench empties the one it is given
        target = Database(kind="postgres", url=empty_database_url)
    # Each database runs half of the workloads, so that the test stays short (< 30 s each)
    # and every piece of the command runs on one of them.
    if target.kind == "sqlite":
        workloads = ["w2-check-2000", "w2-list-check", "w3-import-opt-outs"]
    else:
        workloads = ["w3-import", "w1-unsubscribe", "w1-processes", "w2-list-check-large"]
    output = tmp_path / "results.json"

    run(
        databases=[target],
        workloads=workloads,
        rounds=1,
        sizes=TINY,
        workers=None,
        output=output,
        plots=None,  # the sweep is the same measurements again; its drawing is tested above
    )

    report = json.loads(output.read_text())
    assert sorted(report) == [
        "load_average_after",
        "machine",
        "results",
        "rounds",
        "sizes",
        "sweeps",
    ]
    assert sorted(r["workload"] for r in report["results"]) == sorted(workloads)
    for result in report["results"]:
        assert result["database"] == target.kind
        assert len(result["rounds"]) == 1
        for side in ("ceiling", "optledger"):
            sample = result["rounds"][0][side]
            assert sample["throughput"] > 0, (result["workload"], side)
            assert sample["failures"] == 0, (result["workload"], side, sample)
        assert result["failures"] == 0
        assert result["ratio"] == pytest.approx(
            result["optledger_throughput"] / result["ceiling_throughput"]
        )
    by_name = {r["workload"]: r for r in report["results"]}
    if "w2-check-2000" in by_name:
        assert by_name["w2-check-2000"]["rounds"][0]["optledger"]["detail"]["rate"] == 2000.0
    if "w1-unsubscribe" in by_name:
        assert by_name["w1-unsubscribe"]["rounds"][0]["optledger"]["detail"]["requests"] > 0
    if "w2-list-check" in by_name:
        assert by_name["w2-list-check"]["rounds"][0]["optledger"]["detail"]["allowed"] == 150
        assert by_name["w2-list-check"]["rounds"][0]["ceiling"]["detail"]["allowed"] == 150
    if "w2-list-check-large" in by_name:
        large = by_name["w2-list-check-large"]["rounds"][0]
        assert large["optledger"]["detail"]["allowed"] == 3_000 - 150
        assert large["ceiling"]["detail"]["allowed"] == 3_000 - 150
        assert 0 < large["optledger"]["peak_rss_mb"] < 2048
    if "w3-import-opt-outs" in by_name:
        during = by_name["w3-import-opt-outs"]["rounds"][0]["optledger"]
        assert (during["detail"]["opt_outs"], during["detail"]["during_import"]) == (4, 4)
        assert during["p99_ms"] > 0
        assert during["peak_rss_mb"] > 0


def test_the_command_line_names_every_workload() -> None:
    usage = subprocess.run(
        [sys.executable, "-m", "bench.run", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    for name in (
        "w1-unsubscribe",
        "w1-one-click",
        "w2-check-max",
        "w2-check-2000",
        "w1-processes",
        "w2-list-check",
        "w2-list-check-large",
        "w3-import",
        "w3-import-opt-outs",
    ):
        assert name in usage
