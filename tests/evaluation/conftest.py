"""Evaluation tests: a clean fluent state and a fake OpenAI-compatible judge on loopback."""

from support.openai_server import openai_server  # noqa: F401  (fixture)
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)
