"""The Airflow export, loaded and run by real Airflow.

Airflow's pins clash with opskit's, so Airflow lives in .venv-airflow/, which
scripts/ensure-airflow.sh makes (``make test`` runs it before pytest). The
example drills, plus one whose parameters need careful quoting, are exported
into a DAGs folder of a throwaway AIRFLOW_HOME with a SQLite metadata
database; the DAG file calls this checkout's opskit by absolute path, as an
installed one would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from opskit.records import RecordStatus, RecordStore
from opskit.schedules import Schedule, export
from tests.test_schedules import TRICKY_SQL, tricky_schedule

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = ROOT / ".venv-airflow" / "bin" / "airflow"

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

# Run inside .venv-airflow: every DAG the folder yields, as JSON.
DAGBAG_REPORT = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tasks": [task.task_id for task in dag.tasks],
            "owner": dag.owner,
            "tags": sorted(dag.tags),
            "catchup": dag.catchup,
            "retries": [task.retries for task in dag.tasks],
            "cron": getattr(dag.timetable, "expression", None),
            "timezone": str(getattr(dag.timetable, "timezone", "")),
            "timetable": type(dag.timetable).__name__,
            "command": [task.bash_command for task in dag.tasks],
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


@dataclass(frozen=True)
class AirflowSite:
    """A throwaway Airflow installation with the exported DAG file in it."""

    env: dict[str, str]
    dags: Path
    records: Path
    schedule: Schedule


@pytest.fixture(scope="module")
def airflow_site(tmp_path_factory: pytest.TempPathFactory) -> AirflowSite:
    """AIRFLOW_HOME with a migrated SQLite database and the exported drills."""
    if not AIRFLOW.exists():
        pytest.fail(
            f"{AIRFLOW} is missing: run scripts/ensure-airflow.sh (make test runs "
            "it) to install Airflow in its own virtual environment",
            pytrace=False,
        )
    home = tmp_path_factory.mktemp("airflow-home")
    schedule = tricky_schedule(tmp_path_factory.mktemp("drills"))
    export(schedule, "airflow", home / "dags", record_store=str(home / "records"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    site = AirflowSite(env, home / "dags", home / "records", schedule)
    airflow(site, "db", "migrate")
    return site


def airflow(site: AirflowSite, *args: str, timeout: float = 300) -> str:
    """Run ``airflow ARGS...`` (or the venv's ``python``) and return stdout;
    the process group is killed by its id if it outlives ``timeout``."""
    program = AIRFLOW.with_name("python") if args[0] == "-c" else AIRFLOW
    process = subprocess.Popen(
        [str(program), *args],
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"airflow {' '.join(args[:3])} ran past {timeout} s")
    assert process.returncode == 0, (
        f"airflow {' '.join(args[:3])} exited {process.returncode}:\n"
        f"{stdout[-4000:]}\n{stderr[-4000:]}"
    )
    return stdout


def test_airflow_loads_one_dag_with_one_task_per_drill(
    airflow_site: AirflowSite,
) -> None:
    report = json.loads(
        airflow(airflow_site, "-c", DAGBAG_REPORT, str(airflow_site.dags))
        .strip()
        .splitlines()[-1]
    )

    assert report["errors"] == {}
    dags = report["dags"]
    drills = airflow_site.schedule.drills
    assert sorted(dags) == sorted(f"opskit-{drill.name}" for drill in drills)
    for drill in drills:
        dag = dags[f"opskit-{drill.name}"]
        assert dag["tasks"] == [drill.name]
        assert dag["owner"] == drill.owner
        assert "opskit" in dag["tags"]
        assert dag["catchup"] is False
        assert dag["retries"] == [0]
        if drill.enabled:
            assert (dag["cron"], dag["timezone"]) == (drill.cron, drill.timezone)
        else:
            assert dag["timetable"] == "NullTimetable"
    quoting = dags["opskit-quoting-demo"]["command"][0]
    assert quoting.startswith("{% raw %}") and quoting.endswith("{% endraw %}")


def test_an_airflow_task_runs_the_drill_and_files_a_passed_record(
    airflow_site: AirflowSite,
) -> None:
    airflow(
        airflow_site,
        "tasks",
        "test",
        "opskit-quoting-demo",
        "quoting-demo",
        "2026-12-01",
    )

    store = RecordStore.open(str(airflow_site.records))
    (stored,) = store.find(kind="restore-drill")
    record = stored.record
    assert record.status is RecordStatus.PASSED, record.reason
    assert record.name == "demo"
    assert record.parameters["tier"] == "critical"
    # Airflow's Jinja, bash and opskit's -r and -y handed every character over.
    assert record.parameters["freshness_query"] == TRICKY_SQL
    assert "sql:tricky" in [check.name for check in record.checks]
    assert (Path(airflow_site.records) / stored.key / "report.html").is_file()
