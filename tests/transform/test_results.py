"""The report's core without Airflow: dbt's run results made small, grouped by step, test failures
by severity (DuckDB's lock error: ``tests/hooks/test_warehouse.py``)."""

from __future__ import annotations

from tributary.transform.results import (
    Step,
    TaskRun,
    TestInfo,
    format_report,
    run_failed,
    slim_run_results,
)


def _result(unique_id: str, status: str, **extra: object) -> dict:
    return {"unique_id": unique_id, "status": status, "execution_time": 0.25, "message": None, **extra}


def _raw(*results: dict, which: str = "run") -> dict:
    return {"results": list(results), "elapsed_time": 1.5, "args": {"which": which}, "metadata": {}}


def test_slim_run_results_keeps_status_time_rows_and_failures() -> None:
    slim = slim_run_results(
        _raw(
            _result(
                "seed.tributary.payment_types",
                "success",
                message="INSERT 5",
                adapter_response={"_message": "INSERT 5"},
            ),
            _result(
                "model.tributary.fct_sales",
                "success",
                adapter_response={"_message": "OK"},
                compiled_code="select 1",
            ),
            _result("model.tributary.x", "success", adapter_response={"rows_affected": 7}),
            _result("test.tributary.unique_x_id.1a2b3c", "warn", failures=2, message="Got 2 results"),
        )
    )
    assert slim["command"] == "run" and slim["elapsed"] == 1.5
    names = [(n["resource_type"], n["name"], n["rows"]) for n in slim["nodes"]]
    assert names == [
        ("seed", "payment_types", 5),
        ("model", "fct_sales", None),
        ("model", "x", 7),
        ("test", "unique_x_id", None),
    ]
    assert "compiled_code" not in str(slim)


def _steps(test_status: str) -> list[Step]:
    seed = Step(
        "seed",
        [
            TaskRun(
                "seed.payment_types_seed",
                "success",
                slim_run_results(
                    _raw(_result("seed.tributary.payment_types", "success", message="INSERT 5"), which="seed")
                ),
            )
        ],
    )
    tests = slim_run_results(
        _raw(
            _result("test.tributary.not_null_a_id", "pass", failures=0),
            _result(
                "test.tributary.relationships_a_b.9f9f", test_status, failures=3, message="Got 3 results"
            ),
            which="test",
        )
    )
    state = "failed" if test_status == "fail" else "success"
    return [seed, Step("test", [TaskRun("test", state, tests)])]


def test_a_warn_level_failure_is_listed_and_does_not_fail_the_run() -> None:
    steps = _steps("warn")
    info = {"test.tributary.relationships_a_b.9f9f": TestInfo("a", "b_id", "warn", "add it to the seed")}
    text = format_report("report", steps, info)
    assert "test failures, severity error (fail the run): none" in text
    assert "  - relationships_a_b on a.b_id: 3 failing row(s) — add it to the seed" in text
    assert "\nseed           success " in text and "\ntest           warn " in text
    assert run_failed(steps) == []


def test_an_error_level_failure_fails_the_run_naming_the_test() -> None:
    steps = _steps("fail")
    text = format_report("report", steps)
    assert "test failures, severity error (fail the run): 1\n  - relationships_a_b: 3 failing row(s)" in text
    assert "test failures, severity warn (the run goes on): none" in text
    assert run_failed(steps) == ["test relationships_a_b failed (severity error)"]


def test_a_step_that_did_not_run_is_reported_as_such() -> None:
    steps = [
        Step("seed", [TaskRun("seed.a_seed", "failed", {"nodes": [], "error": "boom\nmore"})]),
        Step("test", [TaskRun("test", "upstream_failed")]),
    ]
    text = format_report("report", steps)
    assert "\ntest           not run (upstream failed) " in text
    assert run_failed(steps) == ["task seed.a_seed: boom"]
