"""The real reelgate binary as a process the conformance tests can start, stop and restart on the
same port and data directory (SIGTERM or kill -9), like an operator's restart mid-task."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIN = os.environ.get("REELGATE_BIN", ".build/debug/reelgate")


class Gateway:
    def __init__(self, keys, config=None, env=None):
        self.env = env or {}
        self.data = tempfile.mkdtemp(prefix="reelgate-conformance-")
        self.config = os.path.join(self.data, "config.json")
        with open(self.config, "w") as f:
            json.dump(config or {"providers": {"simulator": {"latencySeconds": 1.5}}}, f)
        self.keys = keys
        self.listen = "127.0.0.1:0"
        self.proc = None
        self.logs = []

    def start(self):
        env = dict(os.environ, REELGATE_LISTEN=self.listen, REELGATE_DATA_DIR=self.data,
                   REELGATE_API_KEYS=",".join(f"{name}:{key}:{role}" for name, key, role in self.keys), **self.env)
        log = open(os.path.join(self.data, f"stderr-{len(self.logs)}.log"), "w")
        self.logs.append(log.name)
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config], env=env, cwd=self.data,
                                     stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.proc.stdout.readline()  # blocks until the ready line: no sleeping
        assert line.startswith("listening on http://"), (line, self.stderr())
        self.address = line.strip().removeprefix("listening on http://")
        self.listen = self.address  # a restart binds the same port
        return self

    @property
    def http(self):
        return f"http://{self.address}"

    @property
    def ws(self):
        return f"ws://{self.address}/v1"

    def stderr(self):
        return "".join(open(p).read() for p in self.logs)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def restart(self, sig):
        code = self.stop(sig)
        self.start()
        return code

    def close(self):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def tasks(self, key):
        """The key's tasks from the ops API, newest first."""
        req = urllib.request.Request(f"{self.http}/v1/tasks?limit=50", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)["tasks"]

    def wait_for_task(self, key, state, timeout=30):
        """Polls the ops API until the key has a task in `state` (the condition is observed, not slept on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [t for t in self.tasks(key) if t["state"] == state]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no task reached {state} in {timeout} s")


def fetch_mp4(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "video/mp4"
        body = resp.read()
    assert body[4:8] == b"ftyp", "a real MP4 comes back"
    return body


def sdk_error(coro):
    """Runs an SDK call that must fail and returns the RunwareError it raised."""
    import asyncio

    from runware.errors import RunwareError
    try:
        asyncio.run(coro)
    except RunwareError as error:
        return error
    raise AssertionError("the SDK call succeeded")


class WebhookReceiver:
    """A webhook endpoint on loopback that answers 200 and counts deliveries per taskUUID."""

    def __init__(self):
        self.seen = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                for item in json.loads(body).get("data", []):
                    with receiver.lock:
                        receiver.seen[item["taskUUID"]] = receiver.seen.get(item["taskUUID"], 0) + 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
