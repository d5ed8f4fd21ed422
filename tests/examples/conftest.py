"""SDK tests: every test starts with a clean fluent state; fixtures shared with tests/examples."""

from support.openai_server import openai_server  # noqa: F401  (fixture)
from support.sdk_backends import backend  # noqa: F401  (fixture)
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)
