"""Emit a known OpenLineage history with the real OpenLineage Python client.

Usage: emit_history.py OUT_FILE

Writes RunEvents through `OpenLineageClient` + `FileTransport(append=True)` to OUT_FILE
(one JSON object per line, exactly as the client writes it) and prints one JSON object
on stdout: {"events": N, "client_version": V}. The history is deterministic (fixed
UUIDs from uuid5, fixed times), so tests/openlineage.rs can hold its expected runs,
health and alerts written out by hand. The scenario, 14 days from 2026-11-01:

- airflow/orders_daily (DAG) and its task airflow/orders_daily.load (retries: 1), team
  payments: daily 03:00, all succeed; on day 5 the task's try 1 fails (ConnectionError,
  Python traceback) and try 2, a separate runId under the same DAG run, succeeds.
- airflow/billing_daily.export (task of DAG billing_daily, retries: 1), owners
  user:alice then team:billing: daily 04:00; days 11-14 both tries fail (UndefinedTable): a streak of
  four final failures, still failing at the end.
- airflow/marketing_daily.report (retries: 0), owner marketing-analytics: daily 06:00; day 7 fails
  once (ValueError) and day 8 succeeds again.
- spark/inventory_snapshot, team:inventory, no parent: daily 01:00, ~10 min; on day 14 it
  starts, reports RUNNING, and never ends.
- flink/clickstream_sessionize, team:growth, STREAMING: an OTHER event with its facets
  before START on day 1, then RUNNING every 12 h up to day 14 22:00 (the data end).
- dbt/analytics.stg_orders, dbt/analytics.stg_payments, dbt/analytics.fct_revenue, team
  analytics-eng: dbt models, children of one dbt command run (job dbt/analytics.run) each
  day at 05:00; on day 9 the warehouse is down and all three fail within six minutes
  with the same error (OperationalError, differing only in the host address).
- The DAG COMPLETE of orders_daily on day 1 is delivered twice (one duplicate).
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime, timedelta, timezone

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.constants import __version__ as CLIENT_VERSION
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_job,
    parent_run,
)
from openlineage.client.transport.file import FileConfig, FileTransport

PRODUCER = "https://example.com/pipemon-tests/emit_history"
DAY0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAYS = 14
NS = uuid.UUID("6f1d3c2e-8a4b-4c5d-9e6f-0a1b2c3d4e5f")


@attr.define
class AirflowRunFacet(RunFacet):
    """The part of Airflow's `airflow` run facet that pipemon reads: the try number and
    the task's configured retries (a failed try within them will be retried)."""

    dag: dict
    task: dict
    taskInstance: dict  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return "https://raw.githubusercontent.com/apache/airflow/providers-openlineage/1.8.0/airflow/providers/openlineage/facets/AirflowRunFacet.json#/definitions/AirflowRunFacet"


def rid(*parts: object) -> str:
    return str(uuid.uuid5(NS, "/".join(str(p) for p in parts)))


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return DAY0 + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)


def ownership(*names: str) -> ownership_job.OwnershipJobFacet:
    return ownership_job.OwnershipJobFacet(
        owners=[ownership_job.Owner(name=n, type="MAINTAINER") for n in names]
    )


def job_type(processing: str, integration: str, kind: str) -> job_type_job.JobTypeJobFacet:
    return job_type_job.JobTypeJobFacet(
        processingType=processing, integration=integration, jobType=kind
    )


def nominal(t: datetime) -> nominal_time_run.NominalTimeRunFacet:
    return nominal_time_run.NominalTimeRunFacet(
        nominalStartTime=iso(t), nominalEndTime=iso(t + timedelta(days=1))
    )


def output(name: str, rows: int) -> OutputDataset:
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=rows, size=rows * 64
    )
    return OutputDataset(namespace="postgres://warehouse:5432", name=name,
                         outputFacets={"outputStatistics": stats})


def python_error(exc: str, message: str, frame: str) -> error_message_run.ErrorMessageRunFacet:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/opt/airflow/venv/lib/python3.11/site-packages/airflow/models/taskinstance.py",'
        " line 465, in _execute_task\n"
        "    result = _execute_callable(context=context, **execute_callable_kwargs)\n"
        f'  File "/opt/airflow/dags/{frame}.py", line 42, in run\n'
        "    cursor.execute(statement)\n"
        f"{exc}: {message}\n"
    )
    return error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="PYTHON", stackTrace=trace
    )


class History:
    def __init__(self, path: str) -> None:
        self.client = OpenLineageClient(
            transport=FileTransport(FileConfig(log_file_path=path, append=True))
        )
        self.count = 0

    def emit(self, event: RunEvent) -> None:
        self.client.emit(event)
        self.count += 1

    def event(self, state: RunState, t: datetime, job: Job, run: Run,
              inputs: list | None = None, outputs: list | None = None) -> RunEvent:
        return RunEvent(eventType=state, eventTime=iso(t), run=run, job=job,
                        inputs=inputs or [], outputs=outputs or [], producer=PRODUCER)

    def airflow_task(self, dag: str, task: str, owners: tuple[str, ...], day: int,
                     nominal_t: datetime, tries: list[tuple[datetime, datetime, object]],
                     table: str, rows: int, retries: int) -> None:
        """One task of one DAG run: each try its own runId under the DAG run's parent.

        `tries` holds (start, end, error-or-None); the last try without error succeeds.
        """
        job = Job(namespace="airflow", name=f"{dag}.{task}", facets={
            "ownership": ownership(*owners),
            "jobType": job_type("BATCH", "AIRFLOW", "TASK"),
        })
        parent = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=rid(dag, day)),
            job=parent_run.Job(namespace="airflow", name=dag),
        )
        for n, (start, end, error) in enumerate(tries, start=1):
            def run(extra: dict | None = None, n: int = n) -> Run:
                facets = {
                    "parent": parent,
                    "nominalTime": nominal(nominal_t),
                    "airflow": AirflowRunFacet(
                        dag={"dag_id": dag, "schedule_interval": "@daily"},
                        task={"task_id": task, "retries": retries},
                        taskInstance={"try_number": n, "map_index": -1},
                    ),
                }
                facets.update(extra or {})
                return Run(runId=rid(dag, task, day, n), facets=facets)

            inputs = [InputDataset(namespace="postgres://warehouse:5432", name=f"raw.{task}")]
            self.emit(self.event(RunState.START, start, job, run(), inputs))
            if error is None:
                self.emit(self.event(RunState.COMPLETE, end, job, run(), inputs,
                                     [output(table, rows)]))
            else:
                self.emit(self.event(RunState.FAIL, end, job, run({"errorMessage": error}),
                                     inputs))


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    h = History(sys.argv[1])

    # orders_daily: the DAG itself and its load task, team payments.
    dag_job = Job(namespace="airflow", name="orders_daily", facets={
        "ownership": ownership("team:payments"),
        "jobType": job_type("BATCH", "AIRFLOW", "DAG"),
    })
    duplicate = None
    for day in range(1, DAYS + 1):
        t0 = at(day, 3)
        dag_run = Run(runId=rid("orders_daily", day), facets={"nominalTime": nominal(t0)})
        h.emit(h.event(RunState.START, t0 + timedelta(seconds=2), dag_job, dag_run))
        jitter = timedelta(seconds=(day * 37) % 60)
        if day == 5:
            refused = python_error(
                "requests.exceptions.ConnectionError",
                "warehouse unreachable: connection refused (10.2.3.4:5439)", "orders_daily")
            tries = [
                (t0 + timedelta(seconds=5), t0 + timedelta(minutes=4, seconds=10), refused),
                (t0 + timedelta(minutes=9, seconds=10),
                 t0 + timedelta(minutes=29, seconds=10) + jitter, None),
            ]
        else:
            tries = [(t0 + timedelta(seconds=5), t0 + timedelta(minutes=20) + jitter, None)]
        h.airflow_task("orders_daily", "load", ("team:payments",), day, t0, tries,
                       "analytics.orders", 1_840_000 + day * 1_000, retries=1)
        done = h.event(RunState.COMPLETE, tries[-1][1] + timedelta(seconds=10), dag_job, dag_run)
        h.emit(done)
        if day == 1:
            duplicate = done
    # A re-delivered event: the same RunEvent emitted again.
    h.emit(duplicate)

    # billing_daily.export: a streak of final failures (both tries) on days 11-14.
    for day in range(1, DAYS + 1):
        t0 = at(day, 4)
        jitter = timedelta(seconds=(day * 13) % 40)
        if day >= 11:
            missing = python_error(
                "psycopg2.errors.UndefinedTable",
                'relation "billing.invoices_v2" does not exist', "billing_daily")
            tries = [
                (t0 + timedelta(seconds=3), t0 + timedelta(minutes=1, seconds=20), missing),
                (t0 + timedelta(minutes=6, seconds=20), t0 + timedelta(minutes=7, seconds=30),
                 missing),
            ]
        else:
            tries = [(t0 + timedelta(seconds=3), t0 + timedelta(minutes=5) + jitter, None)]
        h.airflow_task("billing_daily", "export", ("user:alice", "team:billing"), day, t0,
                       tries, "billing.export", 52_000 + day * 100, retries=1)

    # marketing_daily.report: one failure on day 7, recovered on day 8.
    for day in range(1, DAYS + 1):
        t0 = at(day, 6)
        end = t0 + timedelta(minutes=15, seconds=(day * 29) % 50)
        error = None
        if day == 7:
            error = python_error("ValueError", "campaign id 'c-0042' has no budget row",
                                 "marketing_daily")
            end = t0 + timedelta(minutes=3)
        h.airflow_task("marketing_daily", "report", ("marketing-analytics",), day, t0,
                       [(t0 + timedelta(seconds=4), end, error)], "marketing.report",
                       9_000 + day * 10, retries=0)

    # inventory_snapshot: a Spark job without a parent; day 14 starts and never ends.
    spark_job = Job(namespace="spark", name="inventory_snapshot", facets={
        "ownership": ownership("team:inventory"),
        "jobType": job_type("BATCH", "SPARK", "JOB"),
    })
    for day in range(1, DAYS + 1):
        t0 = at(day, 1)
        run = Run(runId=rid("inventory_snapshot", day), facets={"nominalTime": nominal(t0)})
        h.emit(h.event(RunState.START, t0, spark_job, run))
        h.emit(h.event(RunState.RUNNING, t0 + timedelta(minutes=5), spark_job, run))
        if day < DAYS:
            end = t0 + timedelta(minutes=10, seconds=(day * 17) % 45)
            h.emit(h.event(RunState.COMPLETE, end, spark_job, run,
                           outputs=[output("inventory.snapshot", 410_000 + day * 50)]))

    # clickstream_sessionize: a streaming job, never ends, never stuck.
    flink_job = Job(namespace="flink", name="clickstream_sessionize", facets={
        "ownership": ownership("team:growth"),
        "jobType": job_type("STREAMING", "FLINK", "JOB"),
    })
    stream = Run(runId=rid("clickstream_sessionize"))
    h.emit(h.event(RunState.OTHER, at(1, 0), flink_job, stream))
    h.emit(h.event(RunState.START, at(1, 0, 0, 1), flink_job, stream))
    t = at(1, 10)
    while t <= at(DAYS, 22):
        h.emit(h.event(RunState.RUNNING, t, flink_job, stream))
        t += timedelta(hours=12)

    # dbt models under one dbt command run per day; day 9: one outage fails all three.
    for day in range(1, DAYS + 1):
        parent = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=rid("dbt-analytics-run", day)),
            job=parent_run.Job(namespace="dbt", name="analytics.run"),
        )
        t = at(day, 5, 0, 10)
        for n, (model, rows) in enumerate(
            [("stg_orders", 1_830_000), ("stg_payments", 1_790_000), ("fct_revenue", 48_000)]
        ):
            job = Job(namespace="dbt", name=f"analytics.{model}", facets={
                "ownership": ownership("team:analytics-eng"),
                "jobType": job_type("BATCH", "DBT", "MODEL"),
            })
            run_id = rid("dbt", model, day)
            start_run = Run(runId=run_id, facets={"parent": parent, "nominalTime": nominal(at(day, 5))})
            h.emit(h.event(RunState.START, t, job, start_run))
            if day == 9:
                end = t + timedelta(minutes=1, seconds=30)
                error = python_error(
                    "psycopg2.OperationalError",
                    f"could not connect to server: Connection refused (10.2.3.{7 + n}:5439)",
                    f"dbt/{model}")
                failed = Run(runId=run_id, facets={"parent": parent, "errorMessage": error})
                h.emit(h.event(RunState.FAIL, end, job, failed))
            else:
                end = t + timedelta(minutes=2, seconds=(day * 7 + n * 11) % 30)
                done = Run(runId=run_id, facets={"parent": parent})
                h.emit(h.event(RunState.COMPLETE, end, job, done,
                               outputs=[output(f"analytics.{model}", rows + day * 10)]))
            t = end + timedelta(seconds=10)

    print(json.dumps({"events": h.count, "client_version": CLIENT_VERSION}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
