"""Drill schedules: drills.yaml is refused with file, line and field when it is
wrong; next runs and due drills follow croniter in each drill's time zone; and
every export is checked for what it says and, where this machine has the
scheduler's own tool, by that tool (systemd-analyze, kubectl). The Airflow
export is loaded and run by real Airflow in tests/test_airflow.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from opskit.cron import CronSyntaxError, normalize, to_oncalendar
from opskit.errors import InputError
from opskit.schedules import (
    Drill,
    Schedule,
    ScheduleError,
    default_opskit_command,
    drill_command,
    due_drills,
    export,
    load_schedule,
    next_runs,
)
from tests.helpers import Invoke

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "drills.yaml"

GOOD = """\
drills:
  - name: nightly
    notebook: restore_drill
    parameters: {service: demo, backup_store: demo}
    schedule: "30 2 * * *"
    tier: standard
    owner: platform
"""

# Characters each scheduler's quoting must carry through unchanged: shell,
# Jinja, cron's %, systemd's $ and %, quotes and a backslash.
TRICKY_SQL = (
    "select max(updated_at) from orders where "
    "'it''s {{ ds }} 100% $HOME \"q\" \\ ;' <> ''"
)
TRICKY_DRILL = {
    "name": "quoting-demo",
    "notebook": "restore_drill",
    "parameters": {
        "service": "demo",
        "backup_store": "demo",
        "freshness_query": TRICKY_SQL,
        "sql_checks": {
            "tricky": {
                "sql": "select count(*) > 0 from orders where '{% if %}' <> '%s'",
                "expected": 1,
            }
        },
        "restore_jobs": 1,
        "keep_scratch": False,
    },
    "schedule": "*/15 9-17 * * mon-fri",
    "tier": "critical",
    "owner": "Platform Team <platform@example.com>",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drills.yaml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScheduleError) as caught:
        load_schedule(path)
    return str(caught.value).replace(str(path), "FILE")


def tricky_schedule(tmp_path: Path) -> Schedule:
    """The example drills plus one whose parameters need careful quoting."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["drills"].append(TRICKY_DRILL)
    return load_schedule(write(tmp_path, yaml.safe_dump(data, sort_keys=False)))


def test_the_example_drills_file_validates_with_defaults_merged() -> None:
    schedule = load_schedule(EXAMPLE)

    drills = {drill.name: drill for drill in schedule.drills}
    assert list(drills) == [
        "restore-demo",
        "restore-demo-critical",
        "security-review-demo",
    ]
    assert drills["restore-demo"].owner == "platform-team"
    assert drills["restore-demo"].timezone == "Europe/Berlin"
    assert drills["restore-demo-critical"].timezone == "UTC"
    assert drills["security-review-demo"].owner == "security-team"
    assert drills["security-review-demo"].cron == "0 0 * * 0"
    assert not drills["security-review-demo"].enabled
    assert schedule.source == str(EXAMPLE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace('"30 2 * * *"', '"30 2 * *"'),
            "FILE:5: drills[0] 'nightly'.schedule: '30 2 * *' has 4 fields",
        ),
        (
            GOOD.replace('"30 2 * * *"', '"30 2 * * L"'),
            "FILE:5: drills[0] 'nightly'.schedule: day of week 'l'",
        ),
        (
            GOOD.replace('"30 2 * * *"', "'@reboot'"),
            "FILE:5: drills[0] 'nightly'.schedule: '@reboot' is not a preset",
        ),
        (
            GOOD + "    tierr: critical\n",
            "FILE:8: drills[0] 'nightly'.tierr: not a drill field",
        ),
        (
            GOOD.replace("    owner: platform\n", ""),
            "FILE:2: drills[0] 'nightly'.owner: missing; this field is required",
        ),
        (
            GOOD.replace("tier: standard", "tier: gold"),
            "FILE:6: drills[0] 'nightly'.tier: unknown tier 'gold'",
        ),
        (
            GOOD + "    timezone: Mars/Olympus\n",
            "FILE:8: drills[0] 'nightly'.timezone: 'Mars/Olympus' is not an IANA",
        ),
        (
            GOOD.replace("notebook: restore_drill", "notebook: restore_dril"),
            "FILE:3: drills[0] 'nightly'.notebook: notebook 'restore_dril': not "
            "found (did you mean 'restore_drill'?)",
        ),
        (
            GOOD.replace("notebook: restore_drill", "notebook: nb/missing.ipynb"),
            "FILE:3: drills[0] 'nightly'.notebook: notebook ",
        ),
        (
            GOOD.replace("service: demo", "servic: demo"),
            "FILE:4: drills[0] 'nightly'.parameters: restore_drill has no "
            "parameter 'servic' (did you mean 'service'?); it takes backup_id,",
        ),
        (
            GOOD.replace("service: demo", "record_store: here"),
            "FILE:4: drills[0] 'nightly'.parameters: record_store is a drill field",
        ),
        (
            GOOD.replace("service: demo", "service: 2026-12-03"),
            "quote dates and times",
        ),
        (
            GOOD.replace("service: demo", "tier: critical"),
            "FILE:6: drills[0] 'nightly'.tier: 'standard' differs from "
            "parameters.tier 'critical'",
        ),
        (
            GOOD.replace("name: nightly", "name: Nightly_Restore"),
            "FILE:2: drills[0] 'Nightly_Restore'.name: 'Nightly_Restore' cannot "
            "name files",
        ),
        (
            GOOD + "    notify: chat.example.com/hook\n",
            "FILE:8: drills[0] 'nightly'.notify: 'chat.example.com/hook' is not "
            "an http(s) webhook URL",
        ),
        (
            GOOD + GOOD.removeprefix("drills:\n"),
            "FILE:1: drills: drills[0] and drills[1] are both named 'nightly'",
        ),
        ("drills: []\n", "FILE:1: drills: empty; declare at least one drill"),
        (
            "defaults:\n  owner: ''\n" + GOOD.replace("    owner: platform\n", ""),
            "FILE:2: defaults.owner: empty; name the person or team",
        ),
        (
            "defaults:\n  tier: gold\n" + GOOD.replace("    tier: standard\n", ""),
            "FILE:2: defaults.tier: unknown tier 'gold'",
        ),
        ("schedules:\n" + GOOD, "FILE:1: schedules: not a drills-file section"),
        ("drills: [nightly]\n", "FILE:1: drills: a list of mappings"),
        ("defaults: {name: x}\n" + GOOD, "FILE:1: defaults: a mapping of drill"),
        ("drills:\n  - name: [\n", "FILE:3: not valid YAML"),
        ("- just a list\n", "FILE: a drills file is a mapping with a drills list"),
    ],
)
def test_a_bad_drills_file_is_refused_with_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refusal(tmp_path, text)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"cells": 5}', "JSON, but not the notebook format"),
        ("not json", "not a readable notebook"),
    ],
)
def test_a_notebook_that_is_not_one_is_refused_at_validation(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "broken.ipynb").write_text(content)
    text = (
        "drills:\n  - name: a\n    notebook: broken.ipynb\n"
        '    schedule: "@daily"\n    tier: standard\n    owner: me\n'
    )

    message = refusal(tmp_path, text)

    assert message.startswith("FILE:3: drills[0] 'a'.notebook: notebook ")
    assert problem in message


def test_a_missing_drills_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cannot be read"):
        load_schedule(tmp_path / "nowhere.yaml")


def test_a_tier_from_the_tiers_file_is_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("gold: {rto: 5m, rpo: 1m}\n")
    monkeypatch.setenv("OPSKIT_TIERS", str(tiers))

    schedule = load_schedule(write(tmp_path, GOOD.replace("standard", "gold")))

    assert schedule.drills[0].tier == "gold"


def test_relative_paths_are_read_from_the_drills_file_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ops"
    folder.mkdir()
    notebook = ROOT / "notebooks" / "restore_drill.ipynb"
    shutil.copy(notebook, folder / "my_drill.ipynb")
    text = GOOD.replace("notebook: restore_drill", "notebook: my_drill.ipynb")
    (folder / "drills.yaml").write_text(text + "    record_store: evidence\n")
    monkeypatch.chdir(tmp_path)

    drill = load_schedule("ops/drills.yaml").drills[0]

    assert drill.notebook == str(folder / "my_drill.ipynb")
    assert drill.record_store == str(folder / "evidence")


def test_next_runs_are_in_the_drill_time_zone() -> None:
    drill = load_schedule(EXAMPLE).drills[0]  # 30 2 * * * in Europe/Berlin
    after = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    runs = next_runs(drill, 3, after)

    assert [run.isoformat() for run in runs] == [
        "2026-12-04T02:30:00+01:00",
        "2026-12-05T02:30:00+01:00",
        "2026-12-06T02:30:00+01:00",
    ]
    assert next_runs(drill, 1, after.replace(tzinfo=None)) == runs[:1]


def test_due_drills_are_those_with_a_run_in_the_window() -> None:
    schedule = load_schedule(EXAMPLE)
    run = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)  # 02:30 in Berlin

    def due(**window: datetime) -> list[str]:
        return [drill.name for drill in due_drills(schedule, **window)]

    assert due(now=run) == ["restore-demo"]
    assert due(now=run + timedelta(seconds=59)) == ["restore-demo"]
    assert due(now=run + timedelta(minutes=1)) == []
    assert due(now=run - timedelta(seconds=1)) == []
    assert due(now=run + timedelta(days=1), since=run - timedelta(hours=1)) == [
        "restore-demo",
        "restore-demo-critical",
    ]
    # The disabled weekly review is never due, though Sunday midnight passed.
    assert "security-review-demo" not in due(now=run + timedelta(days=7), since=run)


def test_drill_command_keeps_each_parameter_type(tmp_path: Path) -> None:
    drill = tricky_schedule(tmp_path).drills[-1]

    argv = drill_command(drill, opskit_command="/opt/opskit", record_store="/r")

    assert argv[:3] == ["/opt/opskit", "run", "restore_drill"]
    assert argv[3:] == [
        *("-r", "service", "demo"),
        *("-r", "backup_store", "demo"),
        *("-r", "freshness_query", TRICKY_SQL),
        *("-p", "restore_jobs", "1"),
        *("-p", "keep_scratch", "false"),
        *("-r", "tier", "critical"),
        "-y",
        json.dumps({"sql_checks": TRICKY_DRILL["parameters"]["sql_checks"]}),
        *("--record-store", "/r"),
    ]


def test_drill_command_passes_no_tier_to_a_notebook_without_one() -> None:
    review = load_schedule(EXAMPLE).drills[2]

    argv = drill_command(review, record_store="s3://records/drills")

    assert "tier" not in argv
    assert argv[-2:] == ["--record-store", "s3://records/drills"]


def test_the_default_opskit_command_is_this_installation() -> None:
    assert default_opskit_command() == str(Path(sys.executable).parent / "opskit")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("@daily", ["*-*-* 00:00:00 UTC"]),
        ("@hourly", ["*-*-* *:00:00 UTC"]),
        ("@weekly", ["Sun *-*-* 00:00:00 UTC"]),
        ("@monthly", ["*-*-1 00:00:00 UTC"]),
        ("30 2 * * *", ["*-*-* 02:30:00 UTC"]),
        ("*/15 9-17 * * mon-fri", ["Mon,Tue,Wed,Thu,Fri *-*-* 09..17:00/15:00 UTC"]),
        ("0 0 1,15 * 1", ["*-*-1,15 00:00:00 UTC", "Mon *-*-* 00:00:00 UTC"]),
        ("5 4 1-31/10 jan-mar *", ["*-1..3-1,11,21,31 04:05:00 UTC"]),
        ("0 22 * * 0,6-7", ["Sat,Sun *-*-* 22:00:00 UTC"]),
        ("0 */6 * */3 *", ["*-1/3-* 00/6:00:00 UTC"]),
    ],
)
def test_cron_expressions_become_systemd_calendar_events(
    expression: str, expected: list[str]
) -> None:
    assert to_oncalendar(expression, "UTC") == expected


@pytest.mark.parametrize(
    "expression",
    ["*/15 9-17 * * mon-fri", "0 0 1,15 * 1", "5 4 1-31/10 jan-mar *", "@weekly"],
)
@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])
def test_systemd_agrees_with_croniter_on_the_next_runs(
    expression: str, zone: str
) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    drill = Drill(
        name="agree",
        notebook="restore_drill",
        schedule=expression,
        tier="standard",
        owner="me",
        timezone=zone,
    )
    for _attempt in range(2):  # a minute may turn between the two readings
        now = datetime.now(UTC)
        systemd = systemd_runs(to_oncalendar(drill.cron, zone), 6)
        if systemd == [run.astimezone(UTC) for run in next_runs(drill, 6, now)]:
            return
    pytest.fail(f"{expression} in {zone}: systemd and croniter disagree")


def systemd_runs(calendars: list[str], count: int) -> list[datetime]:
    """The next ``count`` elapses of any of ``calendars``, as systemd sees them."""
    shown = subprocess.run(
        ["systemd-analyze", "calendar", f"--iterations={count}", *calendars],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
    ).stdout
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", shown)
    runs = {datetime.fromisoformat(s).replace(tzinfo=UTC) for s in stamps}
    return sorted(runs)[:count]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 3 * * * *", "has 6 fields"),
        ("5/15 * * * *", "a step needs a range"),
        ("0 3 ? * *", "write a number"),
        ("0 3 L * *", "is not a number"),
        ("0 3 * * 1#2", "write a number"),
        ("0 24 * * *", "outside 0-23"),
        ("0 3 10-1 * *", "runs backwards"),
        ("0 3 */2 * 1", "list the days instead"),
        ("*/0 * * * *", "the step must be between"),
        ("@every 5m", "not a preset"),
    ],
)
def test_unportable_cron_expressions_are_refused(expression: str, problem: str) -> None:
    with pytest.raises(CronSyntaxError, match=re.escape(problem)):
        normalize(expression)


def test_cron_export_is_an_etc_cron_d_file_whose_lines_run_the_drills(
    tmp_path: Path,
) -> None:
    schedule = tricky_schedule(tmp_path)
    printer = argv_printer(tmp_path)

    (crontab,) = export(
        schedule,
        "cron",
        tmp_path / "cron",
        opskit_command=str(printer),
        record_store="/srv/records",
        user="drills",
    )

    assert crontab.name == "opskit-drills"  # no dot: /etc/cron.d skips those
    lines = crontab.read_text().splitlines()
    assert lines.index("CRON_TZ=Europe/Berlin") < lines.index("CRON_TZ=UTC")
    assert any(line.startswith("# disabled: 0 0 * * 0 drills ") for line in lines)
    jobs = [line for line in lines if line[:1].isdigit() or line.startswith("*")]
    assert [job.split(" ")[:6] for job in jobs] == [
        ["30", "2", "*", "*", "*", "drills"],
        ["0", "6", "*", "*", "mon-fri", "drills"],
        ["*/15", "9-17", "*", "*", "mon-fri", "drills"],
    ]
    # cron turns an unescaped % into a line break and drops the \ before an
    # escaped one, then hands the line to /bin/sh.
    command = jobs[-1].split(" ", 6)[6]
    assert re.search(r"(?<!\\)%", command) is None
    ran = subprocess.run(
        ["/bin/sh", "-c", command.replace("\\%", "%")],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = drill_command(
        schedule.drills[-1], opskit_command=str(printer), record_store="/srv/records"
    )
    assert json.loads(ran.stdout) == expected[1:]


def argv_printer(tmp_path: Path) -> Path:
    """A program that prints its arguments as JSON: stands in for opskit to
    show what a scheduler's quoting hands over."""
    program = tmp_path / "print-argv"
    program.write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n"
    )
    program.chmod(0o755)
    return program


def test_systemd_export_writes_a_service_and_a_persistent_timer_per_drill(
    tmp_path: Path,
) -> None:
    out = tmp_path / "systemd"

    written = export(tricky_schedule(tmp_path), "systemd", out, user="root")

    assert sorted(path.name for path in written) == [
        "opskit-drill-quoting-demo.service",
        "opskit-drill-quoting-demo.timer",
        "opskit-drill-restore-demo-critical.service",
        "opskit-drill-restore-demo-critical.timer",
        "opskit-drill-restore-demo.service",
        "opskit-drill-restore-demo.timer",
        "opskit-drill-security-review-demo.service",  # disabled: no timer
    ]
    timer = (out / "opskit-drill-restore-demo.timer").read_text()
    assert "OnCalendar=*-*-* 02:30:00 Europe/Berlin\n" in timer
    assert "Persistent=true\n" in timer
    assert "WantedBy=timers.target\n" in timer
    service = (out / "opskit-drill-quoting-demo.service").read_text()
    assert "Type=oneshot\nUser=root\n" in service
    assert "EnvironmentFile=-/etc/opskit/drills.env\n" in service
    exec_start = next(line for line in service.splitlines() if "ExecStart" in line)
    assert exec_start.startswith(f"ExecStart={default_opskit_command()} run ")
    assert '100%% $$HOME \\"q\\" \\\\ ;' in exec_start


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    out = tmp_path / "systemd"
    written = export(tricky_schedule(tmp_path), "systemd", out, user="root")

    verified = subprocess.run(
        ["systemd-analyze", "verify", *(str(path) for path in written)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""


def test_kubernetes_export_writes_a_valid_cronjob_per_drill(tmp_path: Path) -> None:
    schedule = tricky_schedule(tmp_path)
    store = "s3://opskit-records/drills"

    written = export(
        schedule,
        "kubernetes",
        tmp_path / "k8s",
        record_store=store,
        image="registry.example.com/opskit:1",
    )

    assert len(written) == len(schedule.drills)
    for path, drill in zip(written, schedule.drills, strict=True):
        job = yaml.safe_load(path.read_text())
        assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
        name = job["metadata"]["name"]
        assert name == f"opskit-drill-{drill.name}" and len(name) <= 52
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
        spec = job["spec"]
        assert spec["schedule"] == drill.cron
        assert spec["timeZone"] == drill.timezone
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["suspend"] is not drill.enabled
        template = spec["jobTemplate"]["spec"]
        assert template["backoffLimit"] == 0
        pod = template["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["image"] == "registry.example.com/opskit:1"
        assert container["command"] == drill_command(drill, record_store=store)
        assert job["metadata"]["annotations"]["opskit/owner"] == drill.owner
        for value in job["metadata"]["labels"].values():
            assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", value)


def test_kubernetes_export_warns_about_a_local_record_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    export(load_schedule(EXAMPLE), "kubernetes", tmp_path, record_store="records")

    assert "gone with the pod" in caplog.text


def test_airflow_export_is_one_python_dag_file(tmp_path: Path) -> None:
    (dag_file,) = export(tricky_schedule(tmp_path), "airflow", tmp_path / "dags")

    text = dag_file.read_text()
    compile(text, str(dag_file), "exec")
    assert dag_file.name == "opskit_drills.py"
    assert "{% raw %}" in text  # the tricky drill's Jinja stays literal
    assert "catchup=False" in text and '"retries": 0' in text


def test_an_unknown_export_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an export format"):
        export(load_schedule(EXAMPLE), "launchd", tmp_path)


def test_schedule_validate_shows_each_drill_and_its_next_runs(opskit: Invoke) -> None:
    outcome = opskit("schedule", "validate", str(EXAMPLE))

    assert outcome.code == 0, outcome.stderr
    assert "restore-demo-critical" in outcome.stdout
    assert "Europe/Berlin" in outcome.stdout
    assert outcome.stdout.count("02:30 CET") == 3
    assert "disabled" in outcome.stdout
    assert f"{EXAMPLE}: valid, 3 drills" in outcome.stderr


def test_schedule_validate_exits_2_naming_file_line_and_field(
    opskit: Invoke, tmp_path: Path
) -> None:
    path = write(tmp_path, GOOD.replace('"30 2 * * *"', '"30 25 * * *"'))

    outcome = opskit("schedule", "validate", str(path))

    assert outcome.code == 2
    assert f"{path}:5: drills[0] 'nightly'.schedule: hour '25'" in outcome.stderr


def test_schedule_export_prints_the_files_and_how_to_install_them(
    opskit: Invoke, tmp_path: Path
) -> None:
    out = tmp_path / "units"

    outcome = opskit(
        "schedule",
        "export",
        str(EXAMPLE),
        "--format",
        "systemd",
        "--out",
        str(out),
        "--opskit",
        "/usr/local/bin/opskit",
        "--record-store",
        str(tmp_path / "records"),
    )

    assert outcome.code == 0, outcome.stderr
    assert sorted(outcome.stdout.split()) == sorted(str(p) for p in out.iterdir())
    assert "systemctl enable --now opskit-drill-restore-demo.timer" in outcome.stderr
    service = (out / "opskit-drill-restore-demo.service").read_text()
    assert "ExecStart=/usr/local/bin/opskit run restore_drill" in service
    assert f"--record-store {tmp_path / 'records'}" in service


def test_schedule_export_warns_of_a_program_or_user_this_machine_lacks(
    opskit: Invoke, tmp_path: Path
) -> None:
    base = ["schedule", "export", str(EXAMPLE), "--format", "cron"]

    odd = opskit(
        *base, "--out", str(tmp_path / "a"), "--opskit", "/nonexistent/opskit",
        "--user", "nosuchuser-opskit",
    )  # fmt: skip
    plain = opskit(*base, "--out", str(tmp_path / "b"))

    assert odd.code == 0 and plain.code == 0
    assert "warning: --opskit /nonexistent/opskit: no such program here" in odd.stderr
    assert "warning: --user nosuchuser-opskit: no such user here" in odd.stderr
    assert "warning" not in plain.stderr


def test_schedule_export_refuses_an_unknown_format(
    opskit: Invoke, tmp_path: Path
) -> None:
    outcome = opskit(
        "schedule", "export", str(EXAMPLE), "--format", "launchd", "--out", "x"
    )

    assert outcome.code == 2
    assert "launchd" in outcome.stderr


def test_due_drills_treats_naive_times_as_utc() -> None:
    schedule = load_schedule(EXAMPLE)
    run = datetime(2026, 12, 4, 1, 30)  # naive, UTC

    assert [d.name for d in due_drills(schedule, now=run)] == ["restore-demo"]


@pytest.mark.parametrize("fmt", ["cron", "systemd", "kubernetes", "airflow"])
def test_no_export_writes_a_notify_url_which_is_a_secret(
    tmp_path: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    schedule = load_schedule(EXAMPLE)
    url = schedule.drills[0].notify
    assert url

    written = export(schedule, fmt, tmp_path, record_store="s3://r/d")

    assert all(url not in path.read_text() for path in written)
    assert "restore-demo: its notify URL is left out" in caplog.text


def test_export_refuses_a_user_name_that_would_break_the_files(
    tmp_path: Path,
) -> None:
    with pytest.raises(InputError, match="not a user name"):
        export(load_schedule(EXAMPLE), "cron", tmp_path, user="drills; rm -rf ~")


def test_export_into_a_file_is_refused_naming_it(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")

    with pytest.raises(InputError, match="cannot write the systemd files"):
        export(load_schedule(EXAMPLE), "systemd", taken / "units")


def test_a_key_repeated_in_a_drill_is_refused_not_last_one_wins(
    tmp_path: Path,
) -> None:
    text = GOOD.replace("    owner: platform\n", "    owner: platform\n    owner: x\n")

    assert refusal(tmp_path, text) == (
        "FILE:8: drills[0] 'nightly': key 'owner' repeated (first on line 7); keep one"
    )


def test_a_yaml_alias_in_a_drills_file_is_refused_before_it_expands(
    tmp_path: Path,
) -> None:
    assert refusal(tmp_path, "loop: &l [*l]\n" + GOOD) == (
        "FILE:1: YAML aliases (*l) are not supported; write the value out"
    )
    assert refusal(tmp_path, "base: &b {owner: x}\n" + GOOD + "more: *b\n").startswith(
        "FILE:9: YAML aliases (*b) are not supported"
    )


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_an_expression_no_date_matches_is_refused(expression: str) -> None:
    with pytest.raises(CronSyntaxError, match="never matches a date"):
        normalize(expression)
