"""Log, load, call, stream and trace a ResponsesAgent, then serve it.

    .venv/bin/python examples/agent/run.py
    # with an LLM (or any OpenAI-compatible server via OPENAI_BASE_URL):
    OPENAI_API_KEY=... .venv/bin/python examples/agent/run.py

Serve the logged model and stream from it with server-sent events:

    .venv/bin/mltrail models serve -m models:/help-desk-agent/1 -p 5001 &
    curl -N localhost:5001/invocations -H 'Content-Type: application/json' \\
      -d '{"input": [{"role": "user", "content": "What is MLflow?"}], "stream": true}'
"""

from pathlib import Path

import mltrail as mlflow

mlflow.set_experiment("agents")
request = {"input": [{"role": "user", "content": "What is MLflow?"}]}

with mlflow.start_run(run_name="help-desk-agent"):
    # Models from code: the file is logged, not a pickle; signature and task are set for you.
    info = mlflow.pyfunc.log_model(
        name="agent",
        python_model=str(Path(__file__).parent / "agent.py"),
        registered_model_name="help-desk-agent",
    )
print("logged", info.model_uri, "task:", info.metadata["task"])

agent = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
response = agent.predict(request)
print("answer:", response["output"][0]["content"][0]["text"])

deltas = [e["delta"] for e in agent.predict_stream(request) if e["type"] == "response.output_text.delta"]
print("streamed", len(deltas), "deltas:", "".join(deltas).strip())

trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
print("trace:", [(span.name, span.span_type) for span in trace.data.spans])
