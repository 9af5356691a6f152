"""The legacy `runware` 0.5.24 SDK (WebSocket only) against the real reelgate (SPEC §15).

It installs the same import name as runware-sdk, so it runs in a venv of its own
(Tests/conformance/run.sh). `videoInference` with async delivery returns an ACK; `getResponse`
then polls over the socket until it has `numberResults` successes, counting across polls
without de-duplicating: the gateway must never let it see a video twice.
"""
import asyncio
import os
import signal
import sys

import pytest
from runware import IVideoInference, Runware

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reelgate_process import Gateway, fetch_mp4  # noqa: E402

KEY = "conformance-legacy-key-0123456789"


def request():
    return IVideoInference(model="reelgate:simulator@1", positivePrompt="a red fox running through snow",
                           duration=5, numberResults=2, deliveryMethod="async")


def check_two_videos(videos, task_uuid):
    assert len(videos) == 2
    assert len({v.videoUUID for v in videos}) == 2, "never the same video twice"
    for v in videos:
        assert v.status == "success" and v.taskUUID == task_uuid
        fetch_mp4(v.videoURL)


@pytest.fixture()
def gateway():
    gw = Gateway([("legacy", KEY, "client")], {"providers": {"simulator": {"latencySeconds": 4}}}).start()
    yield gw
    gw.close()


def test_video_inference_then_get_response(gateway):
    async def go():
        rw = Runware(api_key=KEY, url=gateway.ws)
        await rw.connect()
        try:
            ack = await rw.videoInference(requestVideo=request())
            assert ack.taskType == "videoInference"
            return ack, await rw.getResponse(taskUUID=ack.taskUUID, numberResults=2)
        finally:
            await rw.disconnect()

    ack, videos = asyncio.run(go())
    check_two_videos(videos, ack.taskUUID)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_gateway_restart_mid_task_is_survived(gateway, sig):
    async def go():
        rw = Runware(api_key=KEY, url=gateway.ws)
        await rw.connect()
        try:
            ack = await rw.videoInference(requestVideo=request())
            polling = asyncio.create_task(rw.getResponse(taskUUID=ack.taskUUID, numberResults=2))
            await asyncio.to_thread(gateway.wait_for_task, KEY, "running")
            await asyncio.to_thread(gateway.restart, sig)
            return ack, await polling
        finally:
            await rw.disconnect()

    ack, videos = asyncio.run(go())
    check_two_videos(videos, ack.taskUUID)
    assert len(gateway.tasks(KEY)) == 1
