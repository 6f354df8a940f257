"""dbt's run results (``target/run_results.json``), kept small and read into the setup report.

Each dbt task keeps a slim copy of its run results (status, timing, rows, failures per node; no
compiled SQL), and the report groups them by step. No Airflow here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_INSERTED = re.compile(r"^(?:INSERT|CREATE|SELECT|UPDATE|DELETE)\s+(\d+)\s*$", re.IGNORECASE)

FAILED = ("error", "fail", "runtime error")


def _rows(result: Mapping[str, Any]) -> int | None:
    """Rows the adapter reports for a node: ``rows_affected`` where the adapter gives it (dbt-duckdb
    does not), else the count in a message such as a seed's ``INSERT 12``."""
    response = result.get("adapter_response") or {}
    rows = response.get("rows_affected")
    if isinstance(rows, int) and rows >= 0:
        return rows
    for text in (response.get("_message"), result.get("message")):
        match = _INSERTED.match(str(text or ""))
        if match:
            return int(match.group(1))
    return None


def slim_run_results(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the report needs from a ``run_results.json``: per node status, seconds, rows, failures
    and message (JSON-safe, small enough for XCom)."""
    nodes = []
    for result in raw.get("results") or []:
        unique_id = str(result.get("unique_id") or "")
        # <resource type>.<package>.<name>[.<hash of a test's arguments>]
        parts = unique_id.split(".")
        nodes.append(
            {
                "unique_id": unique_id,
                "resource_type": unique_id.split(".", 1)[0],
                "name": parts[2] if len(parts) > 2 else parts[-1] or "?",
                "status": str(result.get("status") or "unknown"),
                "seconds": round(float(result.get("execution_time") or 0.0), 3),
                "rows": _rows(result),
                "failures": result.get("failures"),
                "message": (str(result["message"])[:2000] if result.get("message") else None),
                "relation": result.get("relation_name"),
            }
        )
    args = raw.get("args") or {}
    return {
        "command": str(args.get("which") or ""),
        "elapsed": round(float(raw.get("elapsed_time") or 0.0), 3),
        "invocation_id": (raw.get("metadata") or {}).get("invocation_id"),
        "nodes": nodes,
    }


@dataclass
class TestInfo:
    """What the manifest says about a test: what it checks and how severe a failure is."""

    __test__ = False  # not a pytest class

    attached_to: str | None = None
    column: str | None = None
    severity: str | None = None
    description: str | None = None


def tests_from_manifest(manifest: Mapping[str, Any]) -> dict[str, TestInfo]:
    """Per test unique id: the model or seed it checks, the column, the severity, the description."""
    info = {}
    for unique_id, node in (manifest.get("nodes") or {}).items():
        if node.get("resource_type") != "test":
            continue
        attached = node.get("attached_node")  # none for a singular test
        info[unique_id] = TestInfo(
            attached_to=attached.split(".")[-1] if attached else None,
            column=node.get("column_name"),
            severity=str((node.get("config") or {}).get("severity") or "").lower() or None,
            description=node.get("description") or None,
        )
    return info


@dataclass
class TaskRun:
    """One dbt task of a run: its Airflow state and the slim run results it kept (if dbt ran)."""

    task_id: str
    state: str | None
    results: Mapping[str, Any] | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.error is None and self.results:
            self.error = self.results.get("error")

    @property
    def nodes(self) -> list[Mapping[str, Any]]:
        return list((self.results or {}).get("nodes") or [])


@dataclass
class Step:
    """A step of the setup or transform DAG (clear, seed, foundation, ...): one or more dbt tasks."""

    name: str
    tasks: list[TaskRun] = field(default_factory=list)

    @property
    def nodes(self) -> list[Mapping[str, Any]]:
        return [node for task in self.tasks for node in task.nodes]

    @property
    def status(self) -> str:
        states = {task.state for task in self.tasks}
        statuses = {node["status"] for node in self.nodes}
        if statuses & set(FAILED) or states & {"failed", "up_for_retry"}:
            return "failed"
        if states & {"upstream_failed"}:
            return "not run (upstream failed)"
        if not self.tasks or states <= {"skipped", "removed"}:
            return "skipped"
        if states <= {None}:
            return "not run"
        if "warn" in statuses:
            return "warn"
        if states <= {"success"}:
            return "success"
        return "/".join(sorted(str(s) for s in states))

    @property
    def dbt_seconds(self) -> float:
        return sum(float((task.results or {}).get("elapsed") or 0.0) for task in self.tasks)

    @property
    def task_seconds(self) -> float:
        return sum(float((task.results or {}).get("task_seconds") or 0.0) for task in self.tasks)

    @property
    def rows(self) -> int | None:
        counts = [node["rows"] for node in self.nodes if node.get("rows") is not None]
        return sum(counts) if counts else None


@dataclass(frozen=True)
class TestFailure:
    """A test that did not pass: its status says its severity (``warn`` or ``fail``/``error``)."""

    __test__ = False

    step: str
    name: str
    status: str
    failures: int | None
    message: str | None
    info: TestInfo

    @property
    def severity(self) -> str:
        return "warn" if self.status == "warn" else "error"

    def describe(self) -> str:
        what = self.info.attached_to or ""
        if what and self.info.column:
            what += f".{self.info.column}"
        rows = f"{self.failures} failing row(s)" if isinstance(self.failures, int) else self.status
        text = f"{self.name}" + (f" on {what}" if what else "") + f": {rows}"
        if self.status == "error" and self.message:
            text += f" ({self.message.splitlines()[0][:300]})"
        if self.info.description:
            text += f" — {self.info.description}"
        return text


def test_failures(steps: Iterable[Step], tests: Mapping[str, TestInfo] | None = None) -> list[TestFailure]:
    """Every test that warned or failed, in step order."""
    tests = tests or {}
    found = []
    for step in steps:
        for node in step.nodes:
            if node.get("resource_type") != "test" or node["status"] in ("pass", "success", "skipped"):
                continue
            found.append(
                TestFailure(
                    step=step.name,
                    name=node["name"],
                    status=node["status"],
                    failures=node.get("failures"),
                    message=node.get("message"),
                    info=tests.get(node["unique_id"], TestInfo()),
                )
            )
    return found


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value else "-"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def format_report(title: str, steps: list[Step], tests: Mapping[str, TestInfo] | None = None) -> str:
    """The report: per step status, timing, rows and nodes; then test failures by severity."""
    lines = [title, ""]
    lines.append(f"{'step':<14} {'status':<26} {'dbt':>8} {'task':>8} {'nodes':>6} {'rows':>12}")
    for step in steps:
        lines.append(
            f"{step.name:<14} {step.status:<26} {_seconds(step.dbt_seconds):>8} "
            f"{_seconds(step.task_seconds):>8} {len(step.nodes):>6} {_count(step.rows):>12}"
        )
    total_dbt = sum(step.dbt_seconds for step in steps)
    total_task = sum(step.task_seconds for step in steps)
    lines.append(f"{'total':<14} {'':<26} {_seconds(total_dbt):>8} {_seconds(total_task):>8}")

    lines.append("")
    for step in steps:
        for task in step.tasks:
            for node in task.nodes:
                if node.get("resource_type") == "test":
                    continue
                # a run-operation's node is its macro: the task says what it did (clear_gold)
                name = (
                    task.task_id.rsplit(".", 1)[-1] if node.get("resource_type") == "macro" else node["name"]
                )
                lines.append(
                    f"  {step.name:<12} {name:<34} {node['status']:<8} {node['seconds']:>7.2f} s "
                    f"{_count(node.get('rows')):>12} rows"
                )
            if task.error:
                lines.append(f"  {step.name:<12} {task.task_id}: {task.error}")
        tested = [n for n in step.nodes if n.get("resource_type") == "test"]
        if tested:
            by_status: dict[str, int] = {}
            for node in tested:
                by_status[node["status"]] = by_status.get(node["status"], 0) + 1
            counts = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
            lines.append(f"  {step.name:<12} {len(tested)} test(s): {counts}")

    failures = test_failures(steps, tests)
    errors = [f for f in failures if f.severity == "error"]
    warnings = [f for f in failures if f.severity == "warn"]
    lines.append("")
    lines.append(f"test failures, severity error (fail the run): {len(errors) or 'none'}")
    lines.extend(f"  - {failure.describe()}" for failure in errors)
    lines.append(f"test failures, severity warn (the run goes on): {len(warnings) or 'none'}")
    lines.extend(f"  - {failure.describe()}" for failure in warnings)
    return "\n".join(lines)


def run_failed(steps: list[Step]) -> list[str]:
    """Why the run failed, one reason per line (empty: it did not): every error-level test by name,
    and every dbt task that failed for another reason."""
    reasons = [
        f"test {f.name} failed (severity error)" for f in test_failures(steps) if f.severity == "error"
    ]
    for step in steps:
        if step.status != "failed":
            continue
        for task in step.tasks:
            if task.error:
                reasons.append(f"task {task.task_id}: {task.error.splitlines()[0]}")
                continue
            for node in task.nodes:
                if node["status"] in FAILED and node.get("resource_type") != "test":
                    first = (node.get("message") or "").splitlines()[:1]
                    reasons.append(
                        f"{node['resource_type']} {node['name']} failed: {first[0] if first else ''}"
                    )
            if task.state in ("failed", "up_for_retry") and not task.nodes:
                reasons.append(f"task {task.task_id} failed (see its log)")
    return reasons
