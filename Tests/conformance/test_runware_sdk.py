"""The official Runware SDK (runware-sdk 1.8.x, REST transport) against a real reelgate.

Run by `make test` through Tests/conformance/run.sh, which installs the SDK into a venv. This is
the acceptance bar of SPEC §2: if the SDK cannot use reelgate unmodified, nothing else matters.
"""
import asyncio
import urllib.request
import uuid

import pytest
from runware import Runware
from runware.types.sdk import RunOptions

from reelgate_process import Gateway, sdk_error

KEY = "conformance-key-0123456789"


@pytest.fixture(scope="module")
def gateway():
    gw = Gateway([("conformance", KEY, "client")]).start()
    yield gw.http
    assert gw.stop() == 0
    gw.close()


def client(base, key=KEY):
    return Runware(api_key=key, transport="rest", http_base_url=f"{base}/v1", max_retries=0)


def run(coro):
    return asyncio.run(coro)


def test_video_inference_two_results_to_success(gateway):
    progress = []

    async def go():
        async with client(gateway) as rw:
            return await rw.run(
                {"taskType": "videoInference", "model": "reelgate:simulator@1",
                 "positivePrompt": "a red fox running through snow", "duration": 5,
                 "numberResults": 2, "includeCost": True, "outputFormat": "MP4"},
                RunOptions(timeout=60_000, on_progress=progress.append))

    results = run(go())
    assert len(results) == 2
    uuids = {r["videoUUID"] for r in results}
    assert len(uuids) == 2, "each result has its own videoUUID"
    for r in results:
        assert r["status"] == "success"
        assert r["cost"] == pytest.approx(0.5)
        assert isinstance(r["seed"], int)
        with urllib.request.urlopen(r["videoURL"]) as resp:
            assert resp.headers["Content-Type"] == "video/mp4"
            body = resp.read()
        assert body[4:8] == b"ftyp", "a real MP4 comes back"


def test_bad_key_raises_auth_error(gateway):
    async def go():
        async with client(gateway, key="not-a-valid-key-at-all") as rw:
            await rw.run({"taskType": "videoInference", "model": "reelgate:simulator@1",
                          "positivePrompt": "a cat"})

    error = sdk_error(go())
    assert error.code == "auth"
    assert error.status_code == 401
    assert error.parameter == "apiKey"


def test_bad_field_raises_validation_error(gateway):
    async def go():
        async with client(gateway) as rw:
            await rw.run({"taskType": "videoInference", "model": "reelgate:simulator@1",
                          "positivePrompt": "a cat", "duration": 99})

    error = sdk_error(go())
    assert error.code == "validation"
    assert error.parameter == "duration"
    assert error.status_code == 400


def test_unknown_model_raises_validation_error(gateway):
    async def go():
        async with client(gateway) as rw:
            await rw.run({"taskType": "videoInference", "model": "acme:nothing@1",
                          "positivePrompt": "a cat"})

    error = sdk_error(go())
    assert error.parameter == "model"


def test_unknown_task_raises_not_found(gateway):
    async def go():
        async with client(gateway) as rw:
            await rw.get_response({"taskUUID": str(uuid.uuid4())})

    error = sdk_error(go())
    assert error.code == "notFound"
    assert error.status_code == 404
