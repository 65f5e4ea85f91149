"""A malformed runbook is refused before any step runs, with file, line and
field; the shipped runbooks all load."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from opskit.errors import NotFoundError, ParameterError
from opskit.runbooks import (
    RunbookError,
    bind_parameters,
    load_runbook,
    parse_runbook,
    shipped_runbooks,
)

GOOD = """\
name: restart
parameters:
  service: {type: str, default: shop}
  replicas: {type: int, default: 2}
steps:
  - name: Restart
    action:
      command: [echo, restart, "${service}"]
    timeout: 10
"""


STEADY = """\
steady_state:
  checks:
    - {{name: db, {}}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.runbook.yaml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    message = str(caught.value).replace(str(path), "FILE")
    return message.replace(str(tmp_path), "DIR")


def test_the_shipped_runbooks_load() -> None:
    names = shipped_runbooks()

    assert {
        "demo-database",
        "database-failure",
        "application-failure",
        "network-failure",
    } <= set(names)
    for name in names:
        assert load_runbook(name).runbook.name == name


def test_a_good_runbook_loads_with_its_parameters(tmp_path: Path) -> None:
    loaded = load_runbook(write(tmp_path, GOOD))

    assert loaded.runbook.steps[0].name == "Restart"
    assert loaded.runbook.steps[0].needs_confirmation
    assert bind_parameters(loaded.runbook, {"replicas": "3"}) == {
        "service": "shop",
        "replicas": 3,
    }
    assert len(loaded.sha256) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nsteps:\n  - name: a\n    action: {command: [true]\n",
            "FILE:5: not valid YAML",
        ),
        ("- just\n- a list\n", "a runbook is a mapping"),
        (
            GOOD.replace("    timeout: 10", "    timout: 10"),
            "FILE:9: steps[0] 'Restart'.timout: not a runbook field",
        ),
        (
            GOOD.replace("    timeout: 10", "    timeout: soon"),
            "FILE:9: steps[0] 'Restart'.timeout: Input should be a valid number",
        ),
        (
            "name: x\nsteps:\n  - name: a\n",
            "FILE:3: steps[0] 'a'.action: missing; this field is required",
        ),
        ("name: x\n", "FILE:1: steps: missing"),
        (
            GOOD.replace(
                '      command: [echo, restart, "${service}"]',
                '      command: [echo]\n      manual: "restart it"',
            ),
            "FILE:7: steps[0] 'Restart'.action: give exactly one of command, http, "
            "python or manual (found command, manual)",
        ),
        (
            GOOD.replace('[echo, restart, "${service}"]', "[]"),
            "FILE:7: steps[0] 'Restart'.action: command: give the program",
        ),
        (
            GOOD.replace('"${service}"', '"${servcie}"'),
            "FILE:8: steps[0] 'Restart'.action.command[2]: ${servcie} names no "
            "parameter (did you mean 'service'?)",
        ),
        (
            GOOD + "  - name: Restart\n    action: {manual: again}\n",
            "FILE:10: steps[1].name: two steps are named 'Restart'; rename one",
        ),
        (
            GOOD.replace("{type: int, default: 2}", "{type: int, default: two}"),
            "FILE:4: parameters.replicas.default: replicas: 'two' is not a valid int",
        ),
        (
            GOOD.replace(
                '      command: [echo, restart, "${service}"]',
                "      python: not a path",
            ),
            "FILE:7: steps[0] 'Restart'.action: python: 'not a path' is no dotted path",
        ),
        (
            GOOD.replace("{type: str, default: shop}", "{type: text}"),
            "FILE:3: parameters.service.type: Input should be 'str'",
        ),
        (
            GOOD.replace("[echo, restart", "[true, restart"),
            "FILE:8: steps[0] 'Restart'.action.command: true reads as a boolean "
            "in YAML; write it in quotes",
        ),
        (
            GOOD.replace("    timeout: 10", "    retries: {attempts: 0}"),
            "FILE:9: steps[0] 'Restart'.retries.attempts: Input should be greater",
        ),
        (
            GOOD + "    rollback:\n      actoin: {command: [echo, undo]}\n",
            "FILE:11: steps[0] 'Restart'.rollback.actoin: not a runbook field",
        ),
        (
            GOOD.replace(
                '      command: [echo, restart, "${service}"]',
                "      http: {url: 'http://localhost/', method: FETCH}",
            ),
            "FILE:8: steps[0] 'Restart'.action.http.method: Input should be 'GET'",
        ),
        (
            GOOD.replace(
                "steps:\n", STEADY.format("type: sqlitee, path: x.db") + "steps:\n"
            ),
            "FILE:7: steady_state.checks[0].type: unknown type 'sqlitee' (did you "
            "mean 'sqlite'?)",
        ),
        (
            GOOD.replace(
                "steps:\n", STEADY.format("type: sqlite, pth: x.db") + "steps:\n"
            ),
            "FILE:7: steady_state.checks[0].pth: unknown field (did you mean "
            "'path'?); a sqlite check takes",
        ),
        (
            GOOD.replace("steps:\n", STEADY.format("type: tcp, host: db") + "steps:\n"),
            "FILE:7: steady_state.checks[0].port: missing; a tcp check needs port",
        ),
        (
            GOOD.replace(
                "steps:\n", "steady_state:\n  checks_file: nowhere.yaml\nsteps:\n"
            ),
            "FILE:6: steady_state.checks_file: DIR/nowhere.yaml is no file; the "
            "path is taken from the runbook's folder",
        ),
        (
            GOOD.replace("steps:\n", "steady_state: {}\nsteps:\n"),
            "FILE:5: steady_state: names no checks",
        ),
        (
            GOOD.replace(
                "steps:\n", STEADY.format("type: http, url: 'ftp://db'") + "steps:\n"
            ),
            "FILE:7: steady_state.checks[0].url: 'ftp://db' is not an http(s) URL",
        ),
        (
            GOOD.replace(
                "{type: int, default: 2}", "{type: int, default: 5, choices: [2, 3]}"
            ),
            "FILE:4: parameters.replicas.default: 5 is not one of its choices (2, 3)",
        ),
    ],
    ids=[
        "not-yaml",
        "not-a-mapping",
        "unknown-field",
        "wrong-type",
        "missing-action",
        "missing-steps",
        "two-actions",
        "empty-command",
        "unknown-parameter-reference",
        "repeated-step-name",
        "default-of-wrong-type",
        "bad-dotted-path",
        "unknown-parameter-type",
        "unquoted-boolean",
        "zero-attempts",
        "misspelt-rollback-field",
        "unknown-http-method",
        "unknown-steady-check-type",
        "unknown-steady-check-field",
        "missing-steady-check-field",
        "missing-checks-file",
        "empty-steady-state",
        "bad-steady-check-value",
        "default-outside-choices",
    ],
)
def test_each_kind_of_mistake_is_refused_with_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refusal(tmp_path, text)


def test_a_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    message = refusal(tmp_path, "name: x\nsteps:\n  - name: [a\n  - b: c\n")

    assert message.startswith("FILE:4: not valid YAML")


def test_parameters_are_checked_by_name_and_type() -> None:
    runbook = parse_runbook(GOOD)

    with pytest.raises(ParameterError, match=r"servce: .* no such parameter"):
        bind_parameters(runbook, {"servce": "x"})
    with pytest.raises(ParameterError, match="replicas: 'many' is not a valid int"):
        bind_parameters(runbook, {"replicas": "many"})


def test_a_parameter_without_default_must_be_given() -> None:
    runbook = parse_runbook(GOOD.replace("{type: str, default: shop}", "{type: str}"))

    with pytest.raises(ParameterError, match=r"service: .* needs this parameter"):
        bind_parameters(runbook, {})
    assert bind_parameters(runbook, {"service": "cart"})["service"] == "cart"


def test_choices_are_enforced() -> None:
    runbook = parse_runbook(
        GOOD.replace("{type: str, default: shop}", "{default: shop, choices: [shop]}")
    )

    with pytest.raises(ParameterError, match="'cart' is not one of shop"):
        bind_parameters(runbook, {"service": "cart"})


def test_an_unknown_runbook_name_lists_the_shipped_ones() -> None:
    with pytest.raises(NotFoundError, match=r"shipped: .*demo-database"):
        load_runbook("demo-databse")


def test_a_key_repeated_in_a_step_is_refused_not_last_one_wins(
    tmp_path: Path,
) -> None:
    message = refusal(
        tmp_path,
        "name: x\nsteps:\n  - name: a\n    action: {command: [echo, hi]}\n"
        "    action: {command: [echo, bye]}\n",
    )

    assert message == (
        "FILE:5: steps[0] 'a': key 'action' repeated (first on line 4); keep one"
    )


def test_a_key_repeated_at_the_top_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD + "name: again\n")

    assert (
        message == "FILE:10: top level: key 'name' repeated (first on line 1); keep one"
    )


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "name: x\na: &a [*a]\n")

    assert message == (
        "FILE:2: YAML aliases (*a) are not supported; write the value out"
    )


def billion_laughs() -> str:
    """About 1 KB that an alias-expanding loader turns into 10**9 strings."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_file_is_refused_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    message = refusal(tmp_path, billion_laughs())

    assert message.startswith("FILE:2: YAML aliases (*l0) are not supported")
    assert time.monotonic() - started < 2


def test_a_steady_state_checks_file_is_checked_when_the_runbook_loads(
    tmp_path: Path,
) -> None:
    (tmp_path / "checks.yaml").write_text(
        "checks:\n  - {name: db, type: tcp, host: db, port: 0}\n"
    )
    (tmp_path / "same.yaml").write_text(
        "checks:\n  - {name: db, type: tcp, host: db, port: 5432}\n"
    )
    bad_value = "steady_state:\n  checks_file: checks.yaml\n"
    repeated = (
        "steady_state:\n  checks_file: same.yaml\n"
        "  checks:\n    - {name: db, type: tcp, host: other, port: 5432}\n"
    )

    refused = refusal(tmp_path, GOOD.replace("steps:\n", bad_value + "steps:\n"))
    twice = refusal(tmp_path, GOOD.replace("steps:\n", repeated + "steps:\n"))

    assert refused.startswith("FILE:6: steady_state.checks_file: DIR/checks.yaml: ")
    assert "check 1, field port: input should be greater than or equal to 1" in refused
    assert twice.startswith("FILE:5: steady_state: two checks are named 'db'")
