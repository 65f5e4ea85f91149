"""YAML runbooks: load and validate them, then run them step by step with
dry runs, confirmations, retries, rollbacks, resumption and a record."""

from opskit.runbooks.loading import (
    LoadedRunbook,
    RunbookError,
    bind_parameters,
    find_runbook,
    load_runbook,
    parse_runbook,
    shipped_runbooks,
)
from opskit.runbooks.model import Action, Parameter, Runbook, Step
from opskit.runbooks.runner import (
    POLICIES,
    Confirm,
    ConfirmationRequired,
    Decision,
    Outcome,
    RunbookResult,
    RunbookRun,
    StepState,
    policy,
)

__all__ = [
    "POLICIES",
    "Action",
    "Confirm",
    "ConfirmationRequired",
    "Decision",
    "LoadedRunbook",
    "Outcome",
    "Parameter",
    "Runbook",
    "RunbookError",
    "RunbookResult",
    "RunbookRun",
    "Step",
    "StepState",
    "bind_parameters",
    "find_runbook",
    "load_runbook",
    "parse_runbook",
    "policy",
    "shipped_runbooks",
]
