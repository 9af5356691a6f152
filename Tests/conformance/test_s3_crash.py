"""kill -9 in the middle of a multipart upload to the S3 media store (SPEC §16.1), with the real
binary, fake Gemini as the upstream (an 80 MiB video, so the result goes up in 5 MiB parts) and
moto's server as the bucket: the restarted gateway aborts the upload the crash left, resumes the
task from its stored state (the same upstream job: one create), stores the object once, and
leaves no multipart upload behind. Objects are checked with boto3.

Needs REELGATE_TEST_S3_ENDPOINT (make test runs the conformance suite beside moto).
"""
import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest

from reelgate_process import BIN, Gateway

ENDPOINT = os.environ.get("REELGATE_TEST_S3_ENDPOINT")
PYTHON = os.environ.get("REELGATE_TEST_S3_PYTHON", "python3")
pytestmark = pytest.mark.skipif(not ENDPOINT, reason="needs REELGATE_TEST_S3_ENDPOINT (make test starts moto)")
FAKE = os.path.join(os.path.dirname(BIN), "fake-gemini")
KEY = "app-key-0123456789abcdef01"
VIDEO_BYTES = 80 << 20


def boto3(statement):
    """Runs `statement` with a boto3 client `c` (moto's venv has boto3) and returns its JSON output."""
    script = ("import boto3, json\n"
              f"c = boto3.client('s3', endpoint_url='{ENDPOINT}', region_name='us-east-1', "
              "aws_access_key_id='testing', aws_secret_access_key='testing')\n" + statement)
    return json.loads(subprocess.run([PYTHON, "-c", script], check=True, capture_output=True, text=True).stdout)


def post(gateway, body):
    req = urllib.request.Request(f"{gateway.http}/v1", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


@pytest.fixture
def fake():
    proc = subprocess.Popen([FAKE, "--polls", "0", "--video-bytes", str(VIDEO_BYTES)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on http://"), line
    yield proc, line.strip().removeprefix("listening on ")
    proc.stdin.close()
    proc.wait(timeout=10)


def test_kill_9_mid_multipart_upload(fake):
    fake_proc, fake_url = fake
    bucket = "crash-" + uuid.uuid4().hex[:10]
    boto3(f"c.create_bucket(Bucket='{bucket}'); print(json.dumps(True))")
    uploads = f"print(json.dumps([u['Key'] for u in c.list_multipart_uploads(Bucket='{bucket}').get('Uploads', [])]))"
    config = {
        "providers": {"gemini": {"apiKey": "fake-gemini-key", "baseURL": fake_url, "pollIntervalSeconds": 0.05}},
        "media": {"store": {"type": "s3", "endpoint": ENDPOINT, "bucket": bucket, "prefix": "rg/", "accessKeyId": "testing",
                            "secretAccessKey": "testing", "partBytes": 5 << 20}},
    }
    gateway = Gateway([("app", KEY, "client")], config).start()
    try:
        task = str(uuid.uuid4())
        post(gateway, [{"taskType": "videoInference", "taskUUID": task, "model": "google:gemini@omni-flash", "positivePrompt": "boats"}])
        # One boto3 process watches (a call takes milliseconds there) and returns as soon as the
        # upload has begun: observed, not slept on.
        watch = ("import time\nend = time.monotonic() + 60\n"
                 f"while time.monotonic() < end and not c.list_multipart_uploads(Bucket='{bucket}').get('Uploads'): pass\n"
                 "print(json.dumps(True))")
        boto3(watch)
        gateway.stop(9)
        assert boto3(uploads), "the crash left its upload"
        gateway.start()  # same port, same data dir
        deadline = time.monotonic() + 120
        item = {}
        while time.monotonic() < deadline:
            item = post(gateway, [{"taskType": "getResponse", "taskUUID": task}])["data"][0]
            if item.get("status") != "processing":
                break
            time.sleep(0.1)
        assert item.get("status") == "success", item
        video = item["videoUUID"]
        head = boto3(f"h = c.head_object(Bucket='{bucket}', Key='rg/{video}.mp4'); print(json.dumps([h['ContentLength'], h['ETag']]))")
        assert head[0] == VIDEO_BYTES and head[1].endswith('-16"'), head  # 16 parts of 5 MiB
        assert boto3(uploads) == [], "no multipart upload is left behind"
        objects = boto3(f"print(json.dumps([o['Key'] for o in c.list_objects_v2(Bucket='{bucket}').get('Contents', [])]))")
        assert objects == [f"rg/{video}.mp4"], objects
        fake_proc.stdin.write("stats\n")
        fake_proc.stdin.flush()
        creates = json.loads(fake_proc.stdout.readline())["creates"]
        assert len(creates) == 1, "the resumed task polled its stored job; nothing was created twice"
    finally:
        gateway.close()
