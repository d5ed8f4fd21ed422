"""The ``mltrail`` entry point: a click group whose subcommands load lazily.

Each subcommand lives in its own module and is imported only when it is run,
so ``mltrail --help`` stays fast and ``mltrail runs list`` never imports the
server stack. Register a new subcommand by adding it to ``_COMMANDS``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from mltrail.version import __version__

# name -> "module:attribute" of a click command or group.
_COMMANDS: dict[str, str] = {
    "experiments": "mltrail.cli.experiments:experiments",
    "runs": "mltrail.cli.runs:runs",
    "db": "mltrail.cli.db:db",
    "gc": "mltrail.cli.gc:gc",
    "server": "mltrail.cli.server:server",
    "ui": "mltrail.cli.server:ui",
    "scorer-worker": "mltrail.cli.scorer_worker:scorer_worker",
    "models": "mltrail.cli.models:models",
    "artifacts": "mltrail.cli.artifacts:artifacts",
    "run": "mltrail.cli.run:run",
    "sync": "mltrail.cli.sync:sync",
    "import": "mltrail.cli.import_cmd:import_",
    "export": "mltrail.cli.export_cmd:export",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {n for n in _COMMANDS if _available(n)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in _COMMANDS:
            return cmd
        module_name, attr = _COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module_name), attr)


def _available(name: str) -> bool:
    module_name = _COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mltrail")
def cli() -> None:
    """mltrail: fast, light, MLflow-compatible experiment tracking, models and serving."""


if __name__ == "__main__":
    cli()
