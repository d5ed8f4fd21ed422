from mltrail.cli.main import cli

# The guard matters: worker processes started with "spawn" (uvicorn --workers)
# re-import the main module, and must not run the CLI a second time.
if __name__ == "__main__":
    cli()
