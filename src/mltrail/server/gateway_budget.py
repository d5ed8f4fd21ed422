"""Budget policies on the AI gateway's proxy: the spend of each policy's current window, checked and counted.

As MLflow 3.17's gateway (``mlflow.gateway.budget``, its in-memory tracker):

* each policy has one fixed window at a time, aligned to the epoch (MINUTES, HOURS, DAYS),
  to Sundays (WEEKS) or to the first of a month (MONTHS); a new window starts at zero;
* a policy applies to a call when it is GLOBAL, when the call is made in its workspace
  (WORKSPACE), to its endpoint (ENDPOINT) or by its user (USER);
* before a call, a REJECT policy that applies and whose window has spent its amount
  refuses it: HTTP 429 ``REQUEST_LIMIT_EXCEEDED`` with MLflow's text ("Budget limit
  exceeded. Limit: $1.00 USD per 1 day. Budget resets at ... Request rejected.");
* after a call, its cost (the USD the call's trace totals, :mod:`mltrail.entities.prices`)
  is added to every window it applies to; a window whose spend reaches its amount for the
  first time fires ``budget_policy.exceeded`` once (ALERT policies, as MLflow does) through
  the server's webhook dispatcher.

Policies are re-read from the database at most every ``MLTRAIL_GATEWAY_BUDGET_REFRESH_INTERVAL``
seconds (default 600, MLflow's) and at once after a change through this server; a window
first seen (a new policy, a restart, another server's calls) takes the spend its endpoint
traces record (the larger of that and what this process counted), so limits survive
restarts and hold across servers sharing a database.
"""

from __future__ import annotations

import calendar
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mltrail.entities.webhook import WebhookEvent
from mltrail.exceptions import REQUEST_LIMIT_EXCEEDED, MltrailException
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.routing import Call
from mltrail.server.webhook_events import dispatcher
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

_log = logging.getLogger("mltrail.gateway")
REFRESH_ENV = "MLTRAIL_GATEWAY_BUDGET_REFRESH_INTERVAL"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_SUNDAY = _EPOCH - timedelta(days=4)  # 1969-12-28, the Sunday before the epoch
_STEP = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}
_LAST = datetime(9999, 12, 31, tzinfo=UTC)


def budget_store(call: Call) -> Any:
    """The app's budget-policy store."""
    return call.side_store("gateway_budget_store", _open)


def _open(backend_store_uri: str) -> Any:
    with LAZY_IMPORTS:  # the SQL store loads on the first proxied call, not at server start-up
        from mltrail.store.sql.gateway_budgets import SqlBudgetStore

    return SqlBudgetStore(backend_store_uri)


def window_start(unit: str, value: int, now: datetime) -> datetime:
    """The start of the fixed window of ``value`` ``unit``s that holds ``now`` (MLflow's alignment)."""
    if unit in _STEP:
        step = _STEP[unit] * value
        return _EPOCH + timedelta(seconds=int((now - _EPOCH).total_seconds()) // step * step)
    if unit == "WEEKS":
        days = (now - _EPOCH_SUNDAY).days // (7 * value) * (7 * value)
        return _EPOCH_SUNDAY + timedelta(days=days)
    months = ((now.year - 1970) * 12 + now.month - 1) // value * value
    return datetime(1970 + months // 12, months % 12 + 1, 1, tzinfo=UTC)


def window_end(unit: str, value: int, start: datetime) -> datetime:
    """The end (exclusive) of the window that starts at ``start`` (the last day of year 9999 at most)."""
    try:
        return _window_end(unit, value, start)
    except (OverflowError, ValueError):  # a window of millions of years
        return _LAST


def _window_end(unit: str, value: int, start: datetime) -> datetime:
    if unit in _STEP:
        return start + timedelta(seconds=_STEP[unit] * value)
    if unit == "WEEKS":
        return start + timedelta(weeks=value)
    month = start.month - 1 + value
    return datetime(start.year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple()) * 1000


@dataclass
class Window:
    """One policy's current window and what was spent in it."""

    policy: dict[str, Any]
    start: datetime
    end: datetime
    spend: float = 0.0
    exceeded: bool = False

    def applies(self, workspace: str | None, endpoint_id: str | None, username: str | None) -> bool:
        """Whether a call (made in ``workspace``, to ``endpoint_id``, by ``username``) counts here."""
        scope, target = self.policy["target_scope"], self.policy.get("target_value")
        if scope == "GLOBAL":
            return True
        if scope == "ENDPOINT":
            return endpoint_id is not None and target == endpoint_id
        if scope == "USER":
            return target is not None and target == username
        return self.policy.get("workspace") == (workspace or DEFAULT_WORKSPACE)

    def to_json(self) -> dict[str, Any]:
        """MLflow's ``ListGatewayBudgetWindows.BudgetWindow``."""
        return {
            "budget_policy_id": self.policy["budget_policy_id"],
            "window_start_ms": _ms(self.start),
            "window_end_ms": _ms(self.end),
            "current_spend": self.spend,
        }


class BudgetTracker:
    """The windows of every policy, for one server process (see the module docstring)."""

    def __init__(self, refresh_seconds: float | None = None) -> None:
        if refresh_seconds is None:
            refresh_seconds = float(os.environ.get(REFRESH_ENV) or 600)
        self.refresh_seconds = refresh_seconds
        self._windows: dict[str, Window] = {}
        self._lock = threading.Lock()
        self._refreshed = float("-inf")

    def invalidate(self) -> None:
        """Re-read the policies before the next check (a policy changed)."""
        self._refreshed = float("-inf")

    def refresh(self, store: Any, force: bool = False) -> None:
        """Re-read the policies when due; new windows take the spend their traces record."""
        if not force and time.monotonic() - self._refreshed < self.refresh_seconds:
            return
        policies = store.all_policies()
        now = datetime.now(UTC)
        fresh: dict[str, Window] = {}
        with self._lock:
            for policy in policies:
                unit, value = policy["duration"]["unit"], policy["duration"]["value"]
                start = window_start(unit, value, now)
                old = self._windows.get(policy["budget_policy_id"])
                if old is not None and old.start == start:
                    old.policy, old.end = policy, window_end(unit, value, start)
                    fresh[policy["budget_policy_id"]] = old
                else:
                    fresh[policy["budget_policy_id"]] = Window(policy, start, window_end(unit, value, start))
            self._windows = fresh
            self._refreshed = time.monotonic()
        for window in list(fresh.values()):  # every refresh: other servers' calls count too
            self._backfill(store, window)

    def _backfill(self, store: Any, window: Window) -> None:
        policy, scope = window.policy, window.policy["target_scope"]
        try:
            spent = store.spend(
                _ms(window.start),
                _ms(window.end),
                workspace=policy.get("workspace") if scope == "WORKSPACE" else None,
                endpoint_id=policy.get("target_value") if scope == "ENDPOINT" else None,
                username=policy.get("target_value") if scope == "USER" else None,
            )
        except Exception:  # the traces cannot be read: keep what this process counted
            _log.warning(
                "gateway: cannot read the spend of budget %s", policy["budget_policy_id"], exc_info=True
            )
            return
        with self._lock:
            window.spend = max(window.spend, spent)
            window.exceeded = window.spend >= float(policy["budget_amount"])

    def _roll(self, window: Window, now: datetime) -> None:
        if now >= window.end:
            unit, value = window.policy["duration"]["unit"], window.policy["duration"]["value"]
            window.start = window_start(unit, value, now)
            window.end = window_end(unit, value, window.start)
            window.spend, window.exceeded = 0.0, False

    def rejecting(
        self, workspace: str | None, endpoint_id: str | None, username: str | None
    ) -> Window | None:
        """The first REJECT window that applies and has spent its amount, or None."""
        now = datetime.now(UTC)
        with self._lock:
            for window in self._windows.values():
                if now >= window.end or window.policy["budget_action"] != "REJECT":
                    continue
                if window.applies(workspace, endpoint_id, username) and window.spend >= float(
                    window.policy["budget_amount"]
                ):
                    return window
        return None

    def record(
        self, cost: float, workspace: str | None, endpoint_id: str | None, username: str | None
    ) -> list[Window]:
        """Add a call's cost to the windows it applies to; returns those it took over their amount."""
        crossed: list[Window] = []
        now = datetime.now(UTC)
        with self._lock:
            for window in self._windows.values():
                self._roll(window, now)
                if not window.applies(workspace, endpoint_id, username):
                    continue
                window.spend += cost
                if not window.exceeded and window.spend >= float(window.policy["budget_amount"]):
                    window.exceeded = True
                    crossed.append(Window(dict(window.policy), window.start, window.end, window.spend, True))
        return crossed

    def windows(self) -> list[Window]:
        """Every policy's current window (copies)."""
        now = datetime.now(UTC)
        with self._lock:
            for window in self._windows.values():
                self._roll(window, now)
            return [
                Window(dict(w.policy), w.start, w.end, w.spend, w.exceeded) for w in self._windows.values()
            ]


def tracker(call: Call) -> BudgetTracker:
    """The app's tracker (one per server process)."""
    found = getattr(call.state, "gateway_budgets", None)
    if found is None:
        found = call.state.gateway_budgets = BudgetTracker()
    return found


def policies_changed(call: Call) -> None:
    """A policy was created, changed or deleted through this server: re-read them now."""
    tracker(call).invalidate()


def current_windows(call: Call) -> list[Window]:
    """Every policy's current window, policies re-read when due."""
    found = tracker(call)
    found.refresh(budget_store(call))
    return found.windows()


def _unit_text(policy: dict[str, Any]) -> str:
    unit, value = policy["duration"]["unit"].lower(), policy["duration"]["value"]
    return f"{value} {unit.rstrip('s') if value == 1 else unit}"


def check(call: Call, endpoint_id: str, username: str | None) -> None:
    """Refuse the call (429 ``REQUEST_LIMIT_EXCEEDED``) when a REJECT budget that applies is spent."""
    found = tracker(call)
    found.refresh(budget_store(call))
    window = found.rejecting(active_workspace(), endpoint_id, username)
    if window is None:
        return
    policy = window.policy
    raise MltrailException(
        "Budget limit exceeded. "
        f"Limit: ${float(policy['budget_amount']):.2f} USD per {_unit_text(policy)}. "
        f"Budget resets at {window.end.strftime('%Y-%m-%dT%H:%M:%SZ')}. Request rejected.",
        REQUEST_LIMIT_EXCEEDED,
    )


def record(call: Call, cost: float, endpoint_id: str, username: str | None) -> None:
    """Count a finished call's cost; fire ``budget_policy.exceeded`` for ALERT windows it pushed over."""
    if cost <= 0:
        return
    found = tracker(call)
    found.refresh(budget_store(call))
    workspace = active_workspace()
    for window in found.record(cost, workspace, endpoint_id, username):
        if window.policy["budget_action"] != "ALERT":
            continue
        payload = _payload(window, workspace)
        try:
            dispatcher(call.state).emit(lambda p=payload: (WebhookEvent.parse("budget_policy.exceeded"), p))
        except Exception:  # the call has been served; the alert is logged instead
            _log.exception(
                "gateway: cannot queue budget_policy.exceeded for %s", window.policy["budget_policy_id"]
            )


def _payload(window: Window, workspace: str | None) -> dict[str, Any]:
    policy = window.policy
    return {
        "budget_policy_id": policy["budget_policy_id"],
        "budget_unit": policy["budget_unit"],
        "budget_amount": float(policy["budget_amount"]),
        "current_spend": window.spend,
        "duration_unit": policy["duration"]["unit"],
        "duration_value": policy["duration"]["value"],
        "target_scope": policy["target_scope"],
        "workspace": workspace or policy.get("workspace") or DEFAULT_WORKSPACE,
        "target_value": policy.get("target_value"),
        "window_start": _ms(window.start),
    }
