from mltrail.cli.main import cli

cli()
