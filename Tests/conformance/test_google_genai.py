"""The official google-genai SDK against our fake Gemini server.

Every adapter test in the Swift suite runs against FakeGemini; this checks that the real SDK
accepts what the fake says and sends what the fake expects, so the fake (and with it the
adapter) cannot drift from the Interactions API.
"""
import base64
import os
import subprocess

import pytest
from google import genai
from google.genai import errors, types

BIN = os.path.join(os.path.dirname(os.environ.get("REELGATE_BIN", ".build/debug/reelgate")), "fake-gemini")
VIDEO = bytes((i * 31) & 0xFF for i in range(150_000))


def start(*args):
    proc = subprocess.Popen([BIN, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on http://"), line
    return proc, line.strip().removeprefix("listening on ")


@pytest.fixture(params=[(), ("--flat",)], ids=["steps", "flat-outputs"])
def fake(request):
    proc, url = start(*request.param)
    yield url, request.param
    proc.stdin.close()
    proc.wait(timeout=10)


def client(url, key="fake-gemini-key"):
    return genai.Client(api_key=key, http_options=types.HttpOptions(
        base_url=url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)))


def test_create_poll_and_read_the_video(fake):
    url, mode = fake
    c = client(url)
    created = c.interactions.create(
        model="gemini-omni-flash-preview", input="a red fox in snow", background=True, store=True,
        response_format={"type": "video", "aspect_ratio": "16:9", "duration": "5s", "resolution": "720p"},
        generation_config={"video_config": {"task": "text_to_video"}})
    assert created.id.startswith("v1_") and created.status == "in_progress"
    got = None
    for _ in range(10):
        got = c.interactions.get(created.id)
        if got.status == "completed":
            break
    assert got.status == "completed"
    if mode:  # flat outputs: the raw JSON carries `outputs`, which the SDK tolerates
        raw = c.interactions.with_raw_response.get(created.id).json()
        block = raw["outputs"][0]
    else:
        model_steps = [s for s in got.steps if s.type == "model_output"]
        block = model_steps[-1].content[0].model_dump()
    assert block["type"] == "video" and block["mime_type"] == "video/mp4"
    assert base64.b64decode(block["data"]) == VIDEO


def test_uri_delivery_downloads_through_the_files_redirect():
    proc, url = start("--delivery", "uri")
    try:
        c = client(url)
        created = c.interactions.create(model="gemini-omni-flash-preview", input="x", background=True,
                                        response_format={"type": "video", "delivery": "uri"})
        got = c.interactions.get(created.id)
        got = c.interactions.get(created.id)
        block = [s for s in got.steps if s.type == "model_output"][-1].content[0]
        assert block.uri.endswith(":download?alt=media")
        data = c.files.download(file=block.uri)
        assert data == VIDEO
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_cancel_and_errors(fake):
    url, _ = fake
    c = client(url)
    created = c.interactions.create(model="gemini-omni-flash-preview", input="x", background=True)
    cancelled = c.interactions.cancel(created.id)
    assert cancelled.status == "cancelled"
    bad = client(url, key="wrong")  # keep a reference: a collected client closes its connection pool
    with pytest.raises(Exception) as info:
        bad.interactions.create(model="gemini-omni-flash-preview", input="x", background=True)
    assert "API key not valid" in str(info.value)
    with pytest.raises(Exception) as missing:
        c.interactions.get("v1_nope")
    assert "not found" in str(missing.value)


def test_files_api_resumable_upload(tmp_path):
    proc, url = start()
    try:
        c = client(url)
        path = tmp_path / "frame.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
        uploaded = c.files.upload(file=str(path), config={"mime_type": "image/png"})
        assert uploaded.uri.startswith("https://generativelanguage.googleapis.com/v1beta/files/")
        assert uploaded.state.name == "ACTIVE"
        again = c.files.get(name=uploaded.name)
        assert again.mime_type == "image/png" and int(again.size_bytes) == 1008
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
