"""``mlflow.langchain.autolog()`` with the brief's ``prompt | llm`` chain, against the loopback OpenAI server."""

from __future__ import annotations

import pytest

import mltrail as mlflow

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_openai")


def _last():
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None
    return trace


def test_brief_chain_is_one_trace_linked_to_the_run(openai_server):
    # The brief's example, verbatim apart from the assertions.
    mlflow.langchain.autolog()
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    with mlflow.start_run() as run:
        llm = ChatOpenAI(model="gpt-4o-mini", temperature=0)
        prompt = ChatPromptTemplate.from_messages([
            ("system", "You are a helpful assistant."),
            ("user", "{question}"),
        ])
        chain = prompt | llm
        response = chain.invoke({"question": "What is MLflow?"})
        print(response.content)

    assert response.content == "Answer to: What is MLflow?"
    trace = _last()
    assert trace.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    assert trace.info.state == "OK"
    root, prompt_span, chat = trace.data.spans
    assert (root.name, root.span_type, root.parent_id) == ("RunnableSequence", "CHAIN", None)
    assert root.inputs == {"question": "What is MLflow?"}
    assert root.outputs["content"] == "Answer to: What is MLflow?"
    assert (prompt_span.name, prompt_span.span_type, prompt_span.parent_id) == ("ChatPromptTemplate", "CHAIN",
                                                                                 root.span_id)
    assert (chat.name, chat.span_type, chat.parent_id) == ("ChatOpenAI", "CHAT_MODEL", root.span_id)
    assert chat.inputs == [{"role": "system", "content": "You are a helpful assistant."},
                           {"role": "user", "content": "What is MLflow?"}]
    assert chat.get_attribute("mlflow.chat.tokenUsage") == {"input_tokens": 8, "output_tokens": 5,
                                                            "total_tokens": 13}
    assert chat.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert chat.outputs["generations"][0][0]["text"] == "Answer to: What is MLflow?"
    df = mlflow.search_traces(run_id=run.info.run_id)
    assert len(df) == 1 and df["request"][0] == {"question": "What is MLflow?"}


def test_parser_retriever_tool_and_nesting_under_a_traced_function(openai_server):
    mlflow.langchain.autolog()
    mlflow.langchain.autolog()  # idempotent
    from langchain_core.documents import Document
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    class Docs(BaseRetriever):
        def _get_relevant_documents(self, query, *, run_manager):
            return [Document(page_content=f"about {query}", metadata={"source": "kb"})]

    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    chain = (ChatPromptTemplate.from_messages([("user", "{question}")]) | ChatOpenAI(model="gpt-4o-mini")
             | StrOutputParser())

    @mlflow.trace(name="app", span_type="AGENT")
    def app(question):
        docs = Docs().invoke(question)
        answer = chain.invoke({"question": question})
        return shout.invoke({"text": answer + " " + docs[0].page_content})

    assert app("rag") == "ANSWER TO: RAG ABOUT RAG"
    spans = _last().data.spans
    by_name = {s.name: s for s in spans}
    root = spans[0]
    assert root.name == "app" and root.span_type == "AGENT"
    assert by_name["Docs"].span_type == "RETRIEVER" and by_name["Docs"].parent_id == root.span_id
    assert by_name["Docs"].outputs[0]["page_content"] == "about rag"
    assert by_name["RunnableSequence"].parent_id == root.span_id
    assert by_name["StrOutputParser"].span_type == "PARSER"
    assert by_name["StrOutputParser"].parent_id == by_name["RunnableSequence"].span_id
    assert by_name["shout"].span_type == "TOOL" and by_name["shout"].outputs == "ANSWER TO: RAG ABOUT RAG"

    mlflow.langchain.autolog(disable=True)
    before = mlflow.get_last_active_trace_id()
    chain.invoke({"question": "untraced"})
    assert mlflow.get_last_active_trace_id() == before


def test_chain_error_is_an_error_trace(openai_server):
    mlflow.langchain.autolog()
    from langchain_core.runnables import RunnableLambda

    def explode(_):
        raise KeyError("missing")

    with pytest.raises(KeyError):
        (RunnableLambda(lambda x: x) | RunnableLambda(explode)).invoke(1)
    trace = _last()
    assert trace.info.state == "ERROR"
    assert trace.data.spans[0].events[0].attributes["exception.type"] == "KeyError"


def test_openai_and_langchain_autolog_together_make_one_tree(openai_server):
    mlflow.langchain.autolog()
    mlflow.openai.autolog()
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableLambda
    from langchain_openai import ChatOpenAI

    @mlflow.trace(span_type="TOOL")
    def post_process(message):
        return message.content.upper()

    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | ChatOpenAI(model="gpt-4o-mini") | RunnableLambda(
        post_process)
    assert chain.invoke({"q": "hi"}) == "ANSWER TO: HI"
    spans = _last().data.spans
    by_name = {s.name: s for s in spans}
    assert by_name["Completions"].parent_id == by_name["ChatOpenAI"].span_id  # the OpenAI call nests
    # LangChain names the lambda's run after the function: a CHAIN span, with the @trace TOOL span inside
    (lam,) = [s for s in spans if s.name == "post_process" and s.span_type == "CHAIN"]
    (tool,) = [s for s in spans if s.name == "post_process" and s.span_type == "TOOL"]
    assert tool.parent_id == lam.span_id
    assert len(mlflow.search_traces(return_type="list")) == 1
    assert mlflow.get_current_active_span() is None

    async def run():
        return await chain.ainvoke({"q": "async"})

    import asyncio

    assert asyncio.run(run()) == "ANSWER TO: ASYNC"
    spans = _last().data.spans
    assert spans[0].name == "RunnableSequence" and len(mlflow.search_traces(return_type="list")) == 2
    assert {s.trace_id for s in spans} == {spans[0].trace_id}
