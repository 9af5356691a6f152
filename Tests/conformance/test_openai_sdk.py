"""The official `openai` Python SDK (3.x) against the real binary (SPEC §18): `client.videos`
works unchanged, with the simulator upstream. Checks create_and_poll (multipart with and without
an input_reference file, and JSON), retrieve, list with pagination, download_content (a real
playable video, by ffprobe), remix and its lineage, delete, and the SDK's error classes."""
import json
import os
import struct
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
import zlib

import openai
import pytest
from openai import OpenAI

from reelgate_process import Gateway

KEY = "openai-key-0123456789abcdef"
OTHER = "other-key-0123456789abcdefg"
OPS = "ops-key-0123456789abcdef01"
MODEL = "reelgate-simulator"
# The SDK warns that OpenAI's own Sora API shuts down; the client contract is what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def png(width=64, height=36):
    """A real PNG (what an app would upload as the first frame)."""
    raw = b"".join(b"\x00" + bytes([200, 80, 40]) * width for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def gateway():
    gw = Gateway([("app", KEY, "client"), ("other", OTHER, "client"), ("ops", OPS, "ops")],
                 config={"providers": {"simulator": {"latencySeconds": 1}}}).start()
    yield gw
    gw.close()


def client(gw, key=KEY):
    return OpenAI(base_url=f"{gw.http}/v1", api_key=key, max_retries=0, timeout=30)


def raw(gw, method, path, body=None, key=KEY, headers=None):
    req = urllib.request.Request(f"{gw.http}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_create_and_poll_then_download_a_playable_video(gateway):
    c = client(gateway)
    video = c.videos.create_and_poll(model=MODEL, prompt="a lighthouse at dusk", seconds="4", size="1280x720")
    assert video.status == "completed", video
    assert video.id.startswith("video_") and video.object == "video" and video.model == MODEL
    assert video.progress == 100 and video.seconds == "4" and video.size == "1280x720" and video.prompt == "a lighthouse at dusk"
    assert video.completed_at >= video.created_at and video.expires_at > video.completed_at
    assert video.error is None and video.remixed_from_video_id is None

    assert c.videos.retrieve(video.id).status == "completed"
    content = c.videos.download_content(video.id)
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        content.write_to_file(f.name)
        probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name:format=duration",
                                           "-of", "json", f.name], capture_output=True, text=True, check=True).stdout)
    assert any(s["codec_type"] == "video" for s in probe["streams"]) and float(probe["format"]["duration"]) > 0

    # Seekable: a range comes back as 206 with the bytes asked for.
    status, headers, body = raw(gateway, "GET", f"/v1/videos/{video.id}/content", headers={"Range": "bytes=0-99"})
    assert status == 206 and len(body) == 100 and headers["Content-Range"].startswith("bytes 0-99/")
    # No thumbnail or spritesheet from this provider: a clear 404.
    with pytest.raises(openai.NotFoundError, match="thumbnail"):
        c.videos.download_content(video.id, variant="thumbnail")


def test_input_reference_as_a_file_and_create_from_json(gateway):
    c = client(gateway)
    video = c.videos.create_and_poll(model=MODEL, prompt="the same scene at night", input_reference=("frame.png", png(), "image/png"))
    assert video.status == "completed" and video.size == "720x1280" and video.seconds == "4"  # OpenAI's defaults
    task = json.loads(raw(gateway, "GET", f"/v1/tasks/{uuid.UUID(video.id.removeprefix('video_'))}", key=OPS)[2])
    assert task["request"]["frameImages"][0]["frame"] == "first"  # the file became the first frame

    status, headers, body = raw(gateway, "POST", "/v1/videos", {"model": MODEL, "prompt": "json body", "seconds": "8", "size": "1920x1080"})
    assert status == 200, body
    made = json.loads(body)
    assert made["status"] in ("queued", "in_progress") and made["seconds"] == "8" and int(headers["openai-poll-after-ms"]) > 0
    assert c.videos.poll(made["id"]).status == "completed"

    # A Files API id is not something reelgate has: a clear 400 naming the field.
    status, _, body = raw(gateway, "POST", "/v1/videos", {"prompt": "x", "model": MODEL, "input_reference": {"file_id": "file_123"}})
    assert status == 400 and json.loads(body)["error"]["param"] == "input_reference.file_id"


def test_list_paginates_and_shows_only_this_apis_videos_of_this_key(gateway):
    c = client(gateway, OTHER)
    made = [c.videos.create(model=MODEL, prompt=f"clip {n}").id for n in range(3)]
    # A task made through the Runware API is not a video here.
    raw(gateway, "POST", "/v1", [{"taskType": "videoInference", "taskUUID": str(uuid.uuid4()), "model": "reelgate:simulator@1",
                                  "positivePrompt": "a runware task"}], key=OTHER)
    first = c.videos.list(limit=2)
    assert [v.id for v in first.data] == made[::-1][:2] and first.has_more
    second = c.videos.list(limit=2, after=first.data[-1].id)
    assert [v.id for v in second.data] == made[:1] and not second.has_more
    assert [v.id for v in c.videos.list(limit=1, order="asc")] == made  # the SDK's auto-pagination
    # Another key's videos are not listed, nor readable.
    assert not set(made) & {v.id for v in client(gateway).videos.list(limit=100).data}
    with pytest.raises(openai.NotFoundError):
        client(gateway).videos.retrieve(made[0])


def test_remix_is_an_edit_with_lineage(gateway):
    c = client(gateway)
    source = c.videos.create_and_poll(model=MODEL, prompt="a red kite over a beach")
    remix = c.videos.remix(source.id, prompt="make it sunset")
    assert remix.remixed_from_video_id == source.id and remix.prompt == "make it sunset" and remix.model == MODEL
    done = c.videos.poll(remix.id)
    assert done.status == "completed" and done.remixed_from_video_id == source.id
    status, _, body = raw(gateway, "GET", f"/v1/videos/{remix.id}/lineage")
    tree = json.loads(body)
    assert status == 200 and len(tree["nodes"]) == 2
    prompts = {n["prompt"]: n for n in tree["nodes"]}
    assert prompts["make it sunset"]["parent"] == prompts["a red kite over a beach"]["videoUUID"]


def test_delete_removes_the_video_and_its_media(gateway):
    c = client(gateway)
    video = c.videos.create_and_poll(model=MODEL, prompt="to be deleted")
    deleted = c.videos.delete(video.id)
    assert deleted.id == video.id and deleted.deleted and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        c.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        c.videos.download_content(video.id)
    with pytest.raises(openai.NotFoundError):
        c.videos.delete(video.id)
    # The task stays for ops, marked deleted, its media gone.
    task = json.loads(raw(gateway, "GET", f"/v1/tasks/{uuid.UUID(video.id.removeprefix('video_'))}", key=OPS)[2])
    assert task["deletedAt"] > 0 and "mediaPath" not in task["results"][0] and task["openaiVideoId"] == video.id


def test_errors_are_the_sdks_own_classes(gateway):
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "not-a-key").videos.list()
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "not-a-key").videos.create(model=MODEL, prompt="x")
    c = client(gateway)
    with pytest.raises(openai.BadRequestError) as bad:
        c.videos.create(model=MODEL, prompt="a cat", seconds="99")
    assert bad.value.body["param"] == "seconds" and bad.value.status_code == 400
    with pytest.raises(openai.BadRequestError) as bad:
        c.videos.create(model=MODEL, prompt="a cat", size="640x480")
    assert bad.value.body["param"] == "size"
    with pytest.raises(openai.BadRequestError) as bad:
        c.videos.create(model="no-such-model", prompt="a cat")
    assert bad.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        c.videos.retrieve("video_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        c.videos.retrieve("not-a-video-id")
