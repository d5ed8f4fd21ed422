"""A ResponsesAgent defined as code: answers with an LLM when OPENAI_API_KEY is set, by rule otherwise.

``run.py`` logs this file as a model (``python_model="agent.py"``); every load runs
it again and takes the object passed to ``set_model``. The same file works with
``import mlflow`` in place of ``import mltrail as mlflow``.
"""

import os
import uuid

import mltrail as mlflow
from mltrail.pyfunc import ResponsesAgent
from mltrail.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent

SYSTEM = "You are a concise assistant for ML engineers. Answer in one or two sentences."


class HelpDeskAgent(ResponsesAgent):
    """Answers the last user message; streams text deltas, then the finished message."""

    def __init__(self, model: str = "gpt-4o-mini") -> None:
        self.model = model

    def predict(self, request):
        items = [e.item for e in self.predict_stream(request) if e.type == "response.output_item.done"]
        return ResponsesAgentResponse(output=items, custom_outputs={"model": self._backend()})

    def predict_stream(self, request):
        if self._backend() == "rules":
            yield from self._rule_based(request)
            return
        import openai

        messages = [{"role": "system", "content": SYSTEM}, *self.prep_msgs_for_cc_llm(request.input)]
        stream = openai.OpenAI().chat.completions.create(model=self.model, messages=messages, stream=True)
        # Chat-completion chunks -> Responses events (text deltas, then one finished message item).
        yield from self.output_to_responses_items_stream(chunk.model_dump() for chunk in stream)

    def _backend(self) -> str:
        return self.model if os.environ.get("OPENAI_API_KEY") else "rules"

    def _rule_based(self, request):
        question = str(request.input[-1].content)
        answer = (
            "MLflow tracks runs, models and traces."
            if "mlflow" in question.lower()
            else f"I have no LLM configured, but I heard: {question}"
        )
        item_id = str(uuid.uuid4())
        for word in answer.split(" "):
            yield ResponsesAgentStreamEvent(**self.create_text_delta(word + " ", item_id=item_id))
        yield ResponsesAgentStreamEvent(
            type="response.output_item.done", item=self.create_text_output_item(answer, item_id)
        )


mlflow.models.set_model(HelpDeskAgent())
