"""``mltrail scorer-worker``: the online-scoring worker as a process of its own.

``mltrail server`` already runs one worker in its main process; run this instead
(with ``--no-scorer-worker`` on the servers) when several servers share one
database, or to keep scorer code out of the server process. Any number of workers
may run on one database: each trace is judged once per scorer version
(see :mod:`mltrail.genai.scorers.online`).

Example::

    mltrail scorer-worker --backend-store-uri postgresql+psycopg://u:p@db/mltrail
    mltrail scorer-worker --backend-store-uri sqlite:///mltrail.db --once   # one pass, then exit
"""

from __future__ import annotations

import logging
import os

import click

from mltrail.cli._common import handle_errors
from mltrail.genai.scorers.online import DEFAULT_POLL_INTERVAL, OnlineScoringWorker, env_flag

POLL_ENV = "MLTRAIL_SCORER_POLL_INTERVAL"
CODE_ENV = "MLTRAIL_SCORER_WORKER_CODE"


def worker_from_env(backend_store_uri: str) -> OnlineScoringWorker:
    """A worker with the poll interval and code setting from ``MLTRAIL_SCORER_*`` (what the server uses)."""
    try:
        interval = float(os.environ.get(POLL_ENV) or DEFAULT_POLL_INTERVAL)
    except ValueError:
        raise click.ClickException(f"{POLL_ENV} must be a number of seconds") from None
    return OnlineScoringWorker(backend_store_uri, poll_interval=interval, run_code=env_flag(CODE_ENV, True))


@click.command("scorer-worker")
@click.option(
    "--backend-store-uri",
    envvar="MLFLOW_BACKEND_STORE_URI",
    required=True,
    help="The tracking database whose started scorers to run (as given to mltrail server).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    envvar=POLL_ENV,
    default=DEFAULT_POLL_INTERVAL,
    show_default=True,
    help="Seconds between passes when a pass found nothing to judge.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Traces judged at once (judges wait on their model provider).",
)
@click.option(
    "--code-scorers/--no-code-scorers",
    default=True,
    show_default=True,
    help="Run @scorer functions (Python source stored by whoever registered them). Off: judges "
    "and built-in scorers only.",
)
@click.option("--once", is_flag=True, help="Make one pass, print how many traces were judged, and exit.")
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]), show_default=True
)
@handle_errors
def scorer_worker(
    backend_store_uri: str, poll_interval: float, threads: int, code_scorers: bool, once: bool, log_level: str
) -> None:
    """Judge new traces with the experiments' started scorers (online evaluation)."""
    log = logging.getLogger("mltrail")
    log.setLevel(getattr(logging, log_level.upper()))
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    worker = OnlineScoringWorker(
        backend_store_uri, poll_interval=poll_interval, threads=threads, run_code=code_scorers
    )
    if once:
        click.echo(f"judged {worker.run_once()} trace(s)")
        return
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass
