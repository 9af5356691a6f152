"""runware-sdk 1.8 with its DEFAULT transport (WebSocket) against the real reelgate (SPEC §15).

Nothing is configured but `ws_base_url`: this is what a new user does. The same calls as the REST
suite, plus a gateway restart mid-task (SIGTERM, then kill -9) that the SDK must survive and
still return exactly the requested videos.
"""
import asyncio
import signal
import uuid

import pytest
from runware import Runware
from runware.types.sdk import RunOptions

from reelgate_process import Gateway, fetch_mp4, sdk_error

KEY = "conformance-ws-key-0123456789"
TASK = {"taskType": "videoInference", "model": "reelgate:simulator@1",
        "positivePrompt": "a red fox running through snow", "duration": 5,
        "numberResults": 2, "includeCost": True, "outputFormat": "MP4"}


@pytest.fixture(scope="module")
def gateway():
    gw = Gateway([("conformance", KEY, "client")]).start()
    yield gw
    assert gw.stop() == 0
    gw.close()


def client(gw, key=KEY):
    return Runware(api_key=key, ws_base_url=gw.ws)


def run(coro):
    return asyncio.run(coro)


def check_two_videos(results):
    assert len(results) == 2
    assert len({r["videoUUID"] for r in results}) == 2, "each result has its own videoUUID, none twice"
    for r in results:
        assert r["status"] == "success"
        fetch_mp4(r["videoURL"])


def test_default_transport_is_websocket_and_two_results_succeed(gateway):
    async def go():
        async with client(gateway) as rw:
            assert rw._config.transport == "websocket" and rw._rest_transport is None
            return await rw.run(dict(TASK), RunOptions(timeout=60_000))

    results = run(go())
    check_two_videos(results)
    assert all(r["cost"] == pytest.approx(0.5) for r in results)
    assert "websocket session opened" in gateway.stderr()


def test_bad_key_raises_auth_error(gateway):
    async def go():
        async with client(gateway, key="not-a-valid-key-at-all") as rw:
            await rw.run(dict(TASK, numberResults=1))

    error = sdk_error(go())
    assert error.code == "auth"


def test_bad_field_raises_validation_error(gateway):
    async def go():
        async with client(gateway) as rw:
            await rw.run(dict(TASK, duration=99))

    error = sdk_error(go())
    assert error.code == "validation"
    assert error.parameter == "duration"


def test_unknown_task_raises_not_found(gateway):
    async def go():
        async with client(gateway) as rw:
            await rw.get_response({"taskUUID": str(uuid.uuid4())})

    error = sdk_error(go())
    assert error.code == "notFound"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_gateway_restart_mid_task_is_survived(sig):
    gw = Gateway([("conformance", KEY, "client")], {"providers": {"simulator": {"latencySeconds": 4}}}).start()
    try:
        async def go():
            async with client(gw) as rw:
                running = asyncio.create_task(rw.run(dict(TASK), RunOptions(timeout=120_000)))
                task = await asyncio.to_thread(gw.wait_for_task, KEY, "running")
                code = await asyncio.to_thread(gw.restart, sig)
                return task, code, await running

        task, code, results = run(go())
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        check_two_videos(results)
        assert {r["taskUUID"] for r in results} == {task["taskUUID"]}
        if sig == signal.SIGTERM:
            assert '"code":"1012"' in gw.stderr(), "the SDK was told the service restarts"
        # One task upstream, not two: the resent submission was recognised.
        assert len(gw.tasks(KEY)) == 1
    finally:
        gw.close()
