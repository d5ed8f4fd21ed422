"""Tour step 6: version a prompt in the registry, point an alias at it, load it in a run.

    .venv/bin/python examples/prompts.py
"""

import mltrail as mlflow

prompt = mlflow.genai.register_prompt("qa", "Answer in one line: {{question}}", commit_message="first")
mlflow.genai.set_prompt_alias("qa", alias="production", version=prompt.version)

with mlflow.start_run():
    loaded = mlflow.genai.load_prompt("prompts:/qa@production")  # links the version to the run
    print(loaded.format(question="What does tracking log?"))
