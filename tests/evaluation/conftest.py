"""Evaluation tests: a clean fluent state and fake judge providers (OpenAI, Anthropic, MLflow deployments) on loopback."""

from support.anthropic_server import anthropic_server  # noqa: F401  (fixture)
from support.deployments_server import deployments_server  # noqa: F401  (fixture)
from support.openai_server import openai_server  # noqa: F401  (fixture)
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)
