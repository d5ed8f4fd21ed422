"""``ResponsesAgent`` and ``ChatAgent``: agent models with a standard interface (MLflow's, same names).

Subclass one, implement ``predict`` (and ``predict_stream`` to stream), and log
it with ``mltrail.pyfunc.log_model(python_model=...)`` (an instance or, as MLflow
recommends, a file that calls ``mltrail.models.set_model``). The signature and
the ``task`` metadata are set for you, every call is traced as an ``AGENT`` span,
and ``mltrail models serve`` answers the request schema on ``/invocations``
(server-sent events when the request says ``"stream": true``). The saved model
loads in the official mlflow and mlflow's agents load here.

pydantic (the request and response types) is imported only when a subclass is
defined or a request is handled: ``import mltrail.pyfunc`` stays light.

Example::

    class Echo(ResponsesAgent):
        def predict(self, request):
            text = request.input[-1].content
            return ResponsesAgentResponse(output=[self.create_text_output_item(text, id="m1")])
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mltrail.pyfunc._agent_wrapping import from_mlflow, plain, validate_request, wrap_method
from mltrail.pyfunc.model import PythonModel

if TYPE_CHECKING:
    from mltrail.types.agent import ChatAgentChunk, ChatAgentMessage, ChatAgentResponse, ChatContext
    from mltrail.types.responses import (
        ResponsesAgentRequest,
        ResponsesAgentResponse,
        ResponsesAgentStreamEvent,
    )

AGENT = "AGENT"


def _responses_input(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
    from mltrail.types.responses import ResponsesAgentRequest

    if "request" in kwargs:
        value = kwargs["request"]
        kwargs = {**kwargs, "request": validate_request(ResponsesAgentRequest, value, "ResponsesAgent")}
    elif len(args) > 1:
        value = args[1]
        args = (args[0], validate_request(ResponsesAgentRequest, value, "ResponsesAgent"), *args[2:])
    else:
        return args, kwargs, False
    return args, kwargs, from_mlflow(value)


class ResponsesAgent(PythonModel):
    """An agent speaking OpenAI's Responses API: ``predict(request) -> ResponsesAgentResponse``.

    ``predict`` and ``predict_stream`` take a :class:`~mltrail.types.responses.ResponsesAgentRequest`
    (a dict is validated into one) and are traced as ``AGENT`` spans; a stream's span
    output is the finished items as one response. The ``create_*`` helpers build output
    items and stream events.
    """

    _skip_type_hint_validation = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("predict", "predict_stream"):
            attr = cls.__dict__.get(name)
            if callable(attr):
                stream = name == "predict_stream"
                setattr(
                    cls,
                    name,
                    wrap_method(
                        attr,
                        span_type=AGENT,
                        reducer=cls.responses_agent_output_reducer if stream else None,
                        convert_input=_responses_input,
                        stream=stream,
                    ),
                )

    def predict(self, request: ResponsesAgentRequest) -> ResponsesAgentResponse:  # type: ignore[override]
        """Answer ``request`` with a :class:`~mltrail.types.responses.ResponsesAgentResponse`."""
        raise NotImplementedError("Subclasses of ResponsesAgent must implement predict()")

    def predict_stream(
        self, request: ResponsesAgentRequest
    ) -> Generator[ResponsesAgentStreamEvent, None, None]:
        """Answer ``request`` as a stream of :class:`~mltrail.types.responses.ResponsesAgentStreamEvent`."""
        raise NotImplementedError(
            "Streaming implementation not provided. Please override the "
            "`predict_stream` method on your model to generate streaming predictions"
        )

    @staticmethod
    def responses_agent_output_reducer(chunks: list[Any]) -> dict[str, Any]:
        """The span output of a stream: its finished items as one response."""
        from mltrail.types.responses import responses_agent_output_reducer

        return responses_agent_output_reducer(chunks)

    @staticmethod
    def create_text_delta(delta: str, item_id: str) -> dict[str, Any]:
        """A text delta event (see :func:`mltrail.types.responses.create_text_delta`)."""
        from mltrail.types.responses import create_text_delta

        return create_text_delta(delta, item_id)

    @staticmethod
    def create_annotation_added(
        item_id: str, annotation: dict[str, Any], annotation_index: int | None = 0
    ) -> dict[str, Any]:
        """An annotation event on the message ``item_id``."""
        from mltrail.types.responses import create_annotation_added

        return create_annotation_added(item_id, annotation, annotation_index)

    @staticmethod
    def create_text_output_item(
        text: str, id: str, annotations: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """An assistant message output item."""
        from mltrail.types.responses import create_text_output_item

        return create_text_output_item(text, id, annotations)

    @staticmethod
    def create_reasoning_item(id: str, reasoning_text: str) -> dict[str, Any]:
        """A reasoning output item."""
        from mltrail.types.responses import create_reasoning_item

        return create_reasoning_item(id, reasoning_text)

    @staticmethod
    def create_function_call_item(id: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
        """A function call output item."""
        from mltrail.types.responses import create_function_call_item

        return create_function_call_item(id, call_id, name, arguments)

    @staticmethod
    def create_function_call_output_item(call_id: str, output: str) -> dict[str, Any]:
        """A function call's result, as an item to send back to the model."""
        from mltrail.types.responses import create_function_call_output_item

        return create_function_call_output_item(call_id, output)

    @staticmethod
    def _responses_to_cc(message: dict[str, Any]) -> list[dict[str, Any]]:
        from mltrail.types.responses import responses_to_cc

        return responses_to_cc(message)

    @staticmethod
    def prep_msgs_for_cc_llm(responses_input: Sequence[Any]) -> list[dict[str, Any]]:
        """A request's ``input`` as chat-completions messages (to call a chat LLM)."""
        from mltrail.types.responses import to_chat_completions_input

        return to_chat_completions_input(responses_input)

    @staticmethod
    def output_to_responses_items_stream(
        chunks: Iterator[dict[str, Any]], aggregator: list[dict[str, Any]] | None = None
    ) -> Generator[ResponsesAgentStreamEvent, None, None]:
        """A chat-completions chunk stream as Responses stream events."""
        from mltrail.types.responses import output_to_responses_items_stream

        yield from output_to_responses_items_stream(chunks, aggregator)


# ------------------------------------------------------------------- ChatAgent


def _chat_agent_input(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
    """A single request dict becomes ``messages``/``context``/``custom_inputs`` (MLflow's unpacking)."""
    from mltrail.types.agent import ChatAgentMessage, ChatAgentRequest, ChatContext

    if len(args) == 2 and not kwargs and isinstance(args[1], dict):
        req = validate_request(ChatAgentRequest, args[1], "ChatAgent")
        return (
            (args[0],),
            {"messages": req.messages, "context": req.context, "custom_inputs": req.custom_inputs},
            False,
        )
    messages = kwargs.get("messages", args[1] if len(args) > 1 else None)
    foreign = bool(messages) and from_mlflow(messages[0])
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        converted = [validate_request(ChatAgentMessage, m, "ChatAgent message") for m in messages]
        if "messages" in kwargs:
            kwargs = {**kwargs, "messages": converted}
        else:
            args = (args[0], converted, *args[2:])
    ctx = kwargs.get("context", args[2] if len(args) > 2 else None)
    if isinstance(ctx, dict):
        ctx = validate_request(ChatContext, ctx, "ChatAgent context")
        if "context" in kwargs:
            kwargs = {**kwargs, "context": ctx}
        else:
            args = (*args[:2], ctx, *args[3:])
    return args, kwargs, foreign


def chat_agent_output_reducer(chunks: list[Any]) -> dict[str, Any]:
    """A ChatAgent stream as one response: chunks with the same message id are joined."""
    messages: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for chunk in chunks:
        chunk = plain(chunk)
        delta = dict(chunk.get("delta") or {})
        key = delta.get("id") or str(len(messages))
        if key in messages:
            prev = messages[key]
            if delta.get("content"):
                prev["content"] = (prev.get("content") or "") + delta["content"]
            if delta.get("tool_calls"):
                prev["tool_calls"] = (prev.get("tool_calls") or []) + delta["tool_calls"]
        else:
            messages[key] = delta
        for field in ("finish_reason", "custom_outputs", "usage"):
            if chunk.get(field) is not None:
                out[field] = chunk[field]
    return {"messages": list(messages.values()), **out}


class ChatAgent(PythonModel):
    """A conversational agent: ``predict(messages, context, custom_inputs) -> ChatAgentResponse``.

    ``messages`` are :class:`~mltrail.types.agent.ChatAgentMessage`; a single
    request dict (``{"messages": [...], "context": ..., "custom_inputs": ...}``) is
    unpacked for you. ``predict`` and ``predict_stream`` (``ChatAgentChunk`` events)
    are traced as ``AGENT`` spans.
    """

    _skip_type_hint_validation = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("predict", "predict_stream"):
            attr = cls.__dict__.get(name)
            if callable(attr):
                stream = name == "predict_stream"
                setattr(
                    cls,
                    name,
                    wrap_method(
                        attr,
                        span_type=AGENT,
                        reducer=chat_agent_output_reducer if stream else None,
                        convert_input=_chat_agent_input,
                        stream=stream,
                    ),
                )

    def _convert_messages_to_dict(self, messages: list[ChatAgentMessage]) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in messages]

    def predict(  # type: ignore[override]
        self,
        messages: list[ChatAgentMessage],
        context: ChatContext | None = None,
        custom_inputs: dict[str, Any] | None = None,
    ) -> ChatAgentResponse:
        """Answer the conversation with new messages (each with a unique ``id``)."""
        raise NotImplementedError("Subclasses of ChatAgent must implement predict()")

    def predict_stream(
        self,
        messages: list[ChatAgentMessage],
        context: ChatContext | None = None,
        custom_inputs: dict[str, Any] | None = None,
    ) -> Generator[ChatAgentChunk, None, None]:
        """Answer the conversation as a stream of :class:`~mltrail.types.agent.ChatAgentChunk`."""
        raise NotImplementedError(
            "Streaming implementation not provided. Please override the "
            "`predict_stream` method on your model to generate streaming predictions"
        )
