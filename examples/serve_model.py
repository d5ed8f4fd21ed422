"""Serve the latest version of "MyLLMApp" (from register_model.py) and call it over HTTP.

    .venv/bin/python examples/serve_model.py

Starts ``mltrail models serve`` on a free port, sends one request to
``/invocations`` as any client would, prints the answer and stops the server.
"""

import socket
import subprocess
import sys
import time

import httpx

import mltrail as mlflow

latest = max(int(v.version) for v in mlflow.MlflowClient().search_model_versions("name = 'MyLLMApp'"))
with socket.socket() as s:  # a free port on loopback
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

server = subprocess.Popen(
    [sys.executable, "-m", "mltrail", "models", "serve", "-m", f"models:/MyLLMApp/{latest}", "-p", str(port)]
)
try:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # wait until the model is loaded
        try:
            if httpx.get(f"{url}/ping").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("the model server did not start")
        time.sleep(0.2)
    answer = httpx.post(f"{url}/invocations", json={"dataframe_records": [{"prompt": "hello"}]})
    answer.raise_for_status()
    print(answer.json())  # {'predictions': ['HELLO']}
finally:
    server.terminate()
    server.wait()
