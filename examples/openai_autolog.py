"""Trace OpenAI calls with autologging: each ``chat.completions.create`` becomes a CHAT_MODEL span.

    pip install openai          # `make serve`'s environment has it
    export OPENAI_API_KEY=...   # and OPENAI_BASE_URL for any OpenAI-compatible server
    .venv/bin/python examples/openai_autolog.py
"""

import openai

import mltrail as mlflow

mlflow.openai.autolog()
mlflow.set_experiment("openai-autolog")

client = openai.OpenAI()  # reads OPENAI_API_KEY and OPENAI_BASE_URL
with mlflow.start_run(run_name="chat"):
    mlflow.log_params({"model": "gpt-4o-mini", "temperature": 0.7})
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are a concise technical writer."},
            {"role": "user", "content": "What does experiment tracking log?"},
        ],
        temperature=0.7,
    )
    print(reply.choices[0].message.content)

trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
print(trace.info.trace_id, [span.span_type for span in trace.data.spans])
