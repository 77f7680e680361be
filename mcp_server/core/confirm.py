"""Confirmation of destructive calls that move production state (traffic, aliases, registered versions,
the live home, backups, every version of a suite): the policy, written once.

A ToolSpec says which of its calls need it (`confirm=Confirm(what, when)`) and the boundary
(core/registry.bind) asks before the service runs, so a call the user turns down touches nothing:

- the client declared `elicitation`: the user is asked with a one-line question built from the
  arguments ("Switch all traffic of endpoint 'churn' to its prepared idle slot?"); an accept runs the
  call, a decline or a dismissal ends it as an `isError` result saying nothing was changed (a declined
  call has no result of the tool's outputSchema, and the assistant must not read it as done);
  the `confirm` argument does not stand in for the user's answer there;
- it did not: the call needs `confirm: true` in its arguments, and without it ends with an error that
  says so.

A call the ToolSpec's `when` leaves out (a restore into a new home, one version of a suite) runs at once.
The CLI, the workflow and the tests call services directly and are not asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_server.core.errors import MlopsError

PARAMETER = "confirm"
DESCRIPTION = (
    "Set true once the user has agreed to this change. Needed only when the client cannot ask the user "
    "itself (no elicitation); otherwise the server asks the user and ignores this."
)

Arguments = Mapping[str, Any]
# What the boundary does before the service runs.
Step = Literal["run", "ask", "refuse"]


class NotConfirmed(MlopsError):
    """The user declined, or the call needed `confirm: true` and did not carry it; nothing was changed."""

    kind = "not_confirmed"


class Answer(BaseModel):
    """The form the user answers (one checkbox, ticked): accepting it confirms the change."""

    confirm: bool = Field(True, title="Confirm", description="Go ahead with this change.")


@dataclass(frozen=True)
class Confirm:
    """Which calls of a tool need confirmation, and what to tell the user.

    `what`: the change as a phrase that follows "to" ("switch all traffic of endpoint 'churn' to its
    prepared idle slot"): a format string over the arguments (`{endpoint!r}`) or a function of them.
    `when`: the calls that need it (None: every call).
    """

    what: str | Callable[[Arguments], str]
    when: Callable[[Arguments], bool] | None = None

    def needed(self, arguments: Arguments) -> bool:
        return self.when is None or self.when(arguments)

    def change(self, arguments: Arguments) -> str:
        what = self.what(arguments) if callable(self.what) else self.what.format_map(arguments)
        return " ".join(what.split())  # one line, whatever the arguments held

    def question(self, arguments: Arguments) -> str:
        change = self.change(arguments)
        return f"{change[:1].upper()}{change[1:]}?"


def step(confirm: Confirm | None, arguments: Arguments, can_ask: bool) -> Step:
    """Before the service runs: run it, ask the user (elicitation), or refuse (no `confirm: true`)."""
    if confirm is None or not confirm.needed(arguments):
        return "run"
    if can_ask:
        return "ask"
    return "run" if arguments.get(PARAMETER) is True else "refuse"


def refused(confirm: Confirm, arguments: Arguments) -> NotConfirmed:
    return NotConfirmed(
        f"Confirmation needed to {confirm.change(arguments)}: ask the user, and once they agree repeat "
        f"the call with {PARAMETER}: true."
    )


def check_answer(
    confirm: Confirm, arguments: Arguments, action: Literal["accept", "decline", "cancel"], answer: Any
) -> None:
    """The user's answer to the question: returns on an accept with the box ticked, else NotConfirmed."""
    if action == "accept" and isinstance(answer, Answer) and answer.confirm:
        return
    how = "dismissed the question whether" if action == "cancel" else "declined"
    raise NotConfirmed(f"Not done: the user {how} to {confirm.change(arguments)}; nothing was changed.")
