"""Where predictions run: threads first, inline once proven fast, threads again for good once slow."""

from __future__ import annotations

import asyncio
import threading
import time

from mltrail.serving.dispatch import PROVE_CALLS, SLOW_SECONDS, PredictDispatcher


def _where() -> str:
    return threading.current_thread().name


async def _calls(dispatch: PredictDispatcher, fn, n: int) -> list[str]:
    return [await dispatch(fn) for _ in range(n)]


def test_a_fast_model_moves_inline_after_proving_itself():
    dispatch = PredictDispatcher()

    async def scenario():
        main = _where()
        trial = await _calls(dispatch, _where, PROVE_CALLS)
        assert all(name != main for name in trial)  # the trial runs in worker threads
        assert dispatch.inline
        assert await dispatch(_where) == main  # then on the event loop's own thread

    asyncio.run(scenario())


def test_a_slow_model_never_runs_inline():
    dispatch = PredictDispatcher()

    def slow() -> str:
        time.sleep(SLOW_SECONDS * 2)
        return _where()

    async def scenario():
        main = _where()
        await dispatch(slow)
        names = await _calls(dispatch, _where, PROVE_CALLS * 2)  # later fast calls do not matter
        assert not dispatch.inline
        assert all(name != main for name in names)

    asyncio.run(scenario())


def test_an_inline_model_that_turns_slow_goes_back_to_threads_for_good():
    dispatch = PredictDispatcher()
    slow_now = {"on": False}

    def model() -> str:
        if slow_now["on"]:
            time.sleep(SLOW_SECONDS * 2)
        return _where()

    async def scenario():
        main = _where()
        await _calls(dispatch, model, PROVE_CALLS)
        assert dispatch.inline
        slow_now["on"] = True
        assert await dispatch(model) == main  # this one ran inline and was slow
        assert not dispatch.inline
        slow_now["on"] = False
        names = await _calls(dispatch, model, PROVE_CALLS * 2)
        assert not dispatch.inline and all(name != main for name in names)

    asyncio.run(scenario())


def test_errors_propagate_from_both_paths():
    dispatch = PredictDispatcher()

    def boom() -> None:
        raise ValueError("bad input")

    async def scenario():
        for _ in range(2):  # once in a thread; then (after proving fast) inline
            try:
                await dispatch(boom)
            except ValueError as err:
                assert str(err) == "bad input"
            else:
                raise AssertionError("the model's error was swallowed")
            await _calls(dispatch, _where, PROVE_CALLS)

    asyncio.run(scenario())
