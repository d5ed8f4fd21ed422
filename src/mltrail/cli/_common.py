"""Shared pieces of the tracking CLI commands: the store option, opening a store, errors, tables."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mltrail.exceptions import MltrailException

if TYPE_CHECKING:
    from mltrail.store.tracking import TrackingStore

F = TypeVar("F", bound=Callable[..., Any])
TRACKING_URI_ENV_VARS = ["MLTRAIL_TRACKING_URI", "MLFLOW_TRACKING_URI"]
DEFAULT_TRACKING_URI = "sqlite:///mltrail.db"
DEFAULT_ARTIFACTS_DIR = "mltrail-artifacts"

VIEW_CHOICE = click.Choice(["active_only", "deleted_only", "all"], case_sensitive=False)


def tracking_uri_option(fn: F) -> F:
    """``--tracking-uri`` / ``--backend-store-uri``, defaulting to the environment then ./mltrail.db."""
    return click.option(
        "--tracking-uri",
        "--backend-store-uri",
        "tracking_uri",
        envvar=TRACKING_URI_ENV_VARS,
        default=DEFAULT_TRACKING_URI,
        show_default=True,
        metavar="URI",
        help="Where tracking data lives: sqlite:///path.db, postgresql://..., mysql://... or an "
        "http(s) server. Read from MLTRAIL_TRACKING_URI or MLFLOW_TRACKING_URI when set.",
    )(fn)


def open_store(uri: str, *, need_sql: bool = False) -> TrackingStore:
    """The tracking store for ``uri``; SQL stores keep new artifacts in ``./mltrail-artifacts``.

    The URI forms are resolved by the SDK's single store chooser
    (:func:`mltrail.tracking._store_registry.plan_store`), so the CLI and the
    SDK agree on what a URI means.
    """
    from mltrail.tracking._store_registry import get_tracking_store, plan_store

    kind, target, root = plan_store(uri)
    if kind == "sql":
        from mltrail.store.sql.tracking import SqlTrackingStore

        return SqlTrackingStore(target, root)
    if need_sql:
        raise click.UsageError(f"This command needs a database URI (sqlite, postgresql, mysql), not {uri!r}.")
    return get_tracking_store(uri)


def handle_errors(fn: F) -> F:
    """Show an ``MltrailException`` as ``Error: CODE: message`` and exit 1, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MltrailException as err:
            raise click.ClickException(f"{err.error_code}: {err.message}") from err

    return wrapper  # type: ignore[return-value]


def store_action(
    group: click.Group,
    name: str,
    id_option: Callable[[F], F],
    action: Callable[[TrackingStore, str], None],
    done: str,
    help: str,
) -> click.Command:
    """Add ``group name --<id option> ID``: one store call on the id, then one line of output.

    ``done`` is formatted with the id (``"Run {} deleted"``); errors print as ``handle_errors`` says.
    """

    @tracking_uri_option
    @handle_errors
    def command(tracking_uri: str, **ids: str) -> None:
        (value,) = ids.values()
        action(open_store(tracking_uri), value)
        click.echo(done.format(value))

    return group.command(name, help=help)(id_option(command))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain left-aligned table, wide enough for each column."""
    cells = [[str(c) if c is not None else "" for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def format_time(ms: int | None) -> str:
    """Milliseconds since the epoch as local ``YYYY-MM-DD HH:MM:SS``."""
    if ms is None:
        return ""
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
