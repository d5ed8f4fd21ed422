"""Tour step 5: trace a pipeline by hand — a CHAIN span with a RETRIEVER span inside, in a run.

    .venv/bin/python examples/trace_pipeline.py

See openai_autolog.py for spans made by autologging instead.
"""

import mltrail as mlflow


@mlflow.trace(span_type="CHAIN")
def answer(question: str) -> str:
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question})
        span.set_outputs(["doc-1"])
    return "42"


with mlflow.start_run():
    answer("What is mltrail?")

traces = mlflow.search_traces(filter_string="attributes.status = 'OK'")  # a DataFrame, newest first
print(traces[["trace_id", "state", "request_time"]].head())
