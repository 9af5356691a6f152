#!/usr/bin/env python3
"""The attacks of the outside security review (issue 10), against one reelgate binary.

Prints one line per figure as `name value unit`, so run.sh can put two binaries side by side.
Each attack starts a fresh gateway on a free loopback port with its own data dir:

  nokey_rss     peak RSS growth while a 20 MB POST /v1 without Authorization is sent
  stalled_rss   RSS while 20 such bodies (10 MB each sent) stall
  trickle_*     20 connections from 127.0.0.2 trickle a body a byte every 5 s at a server
                capped at 20 connections; /healthz is polled from 127.0.0.1 (and 127.0.0.2)
                for 30 s: share answered 200, and the p50/p99 latency of those
  items_*       1,000 getResponse items for a finished 4-result base64Data task: status,
                response bytes, peak RSS growth
  junk_*        a 4 MB array of junk items: status, response bytes, peak RSS growth
"""
import json, os, socket, subprocess, sys, tempfile, threading, time, uuid

BIN = sys.argv[1]
KEY = "bench-key-0123456789abcdef"


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # MB
    return 0.0


class Gateway:
    def __init__(self, config):
        self.dir = tempfile.mkdtemp(prefix="reelgate-abuse-")
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, REELGATE_LISTEN="127.0.0.1:0", REELGATE_DATA_DIR=os.path.join(self.dir, "data"),
                   REELGATE_API_KEYS=f"bench:{KEY}:ops")
        self.proc = subprocess.Popen([BIN, "serve", "--config", path], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["rm", "-rf", self.dir])

    def rss(self):
        return status(self.proc.pid, "VmRSS")

    def hwm(self):
        return status(self.proc.pid, "VmHWM")


def read_response(s, timeout=30):
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ")[1]), body


def post(port, body, key=KEY, timeout=60):
    s = socket.create_connection(("127.0.0.1", port))
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    s.sendall(f"POST /v1 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    result = read_response(s, timeout)
    s.close()
    return result


def emit(name, value, unit=""):
    print(f"{name} {value} {unit}".rstrip(), flush=True)


def nokey():
    gw = Gateway({})
    try:
        time.sleep(0.5)
        base_rss, base_hwm = gw.rss(), gw.hwm()
        body = b"[" + b'{"taskType":"ping"},' * (20 * 1024 * 1024 // 20) + b'{"taskType":"ping"}]'
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(f"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        try:
            s.sendall(body)
        except OSError:
            pass  # refused from the head: the rest is never read
        code, _ = read_response(s)
        s.close()
        emit("nokey_status", code)
        emit("nokey_rss", round(gw.hwm() - base_hwm, 1), "MB")
        # 20 bodies that stall after 10 MB each.
        stalled = []
        for _ in range(20):
            c = socket.create_connection(("127.0.0.1", gw.port))
            c.sendall(f"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Length: {24 * 1024 * 1024}\r\n\r\n".encode())
            c.setblocking(False)
            sent = 0
            chunk = b"x" * (1 << 20)
            deadline = time.time() + 5
            while sent < 10 * (1 << 20) and time.time() < deadline:
                try:
                    sent += c.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
                except OSError:
                    break
            stalled.append(c)
        time.sleep(1)
        emit("stalled_rss", round(gw.rss() - base_rss, 1), "MB")
        for c in stalled:
            c.close()
    finally:
        gw.stop()


def trickle():
    gw = Gateway({"server": {"maxConnections": 20}})
    try:
        stop = threading.Event()

        def attacker():
            c = socket.create_connection(("127.0.0.1", gw.port), source_address=("127.0.0.2", 0))
            c.sendall(f"POST /v1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Length: 1000000\r\n\r\n".encode())
            while not stop.wait(5):
                try:
                    c.sendall(b"x")
                except OSError:
                    return

        threads = [threading.Thread(target=attacker, daemon=True) for _ in range(20)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for source in ["127.0.0.1", "127.0.0.2"]:
            ok, latencies, started = 0, [], time.time()
            polls = 0
            while time.time() - started < 15:
                polls += 1
                t0 = time.time()
                try:
                    s = socket.create_connection(("127.0.0.1", gw.port), source_address=(source, 0), timeout=5)
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    code, _ = read_response(s, 5)
                    s.close()
                except OSError:
                    code = None
                if code == 200:
                    ok += 1
                    latencies.append((time.time() - t0) * 1000)
                time.sleep(0.25)
            latencies.sort()
            tag = "other" if source == "127.0.0.1" else "same"
            emit(f"trickle_{tag}_ok", f"{100 * ok // polls}%")
            if latencies:
                emit(f"trickle_{tag}_p50", round(latencies[len(latencies) // 2], 1), "ms")
                emit(f"trickle_{tag}_p99", round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1), "ms")
        stop.set()
    finally:
        gw.stop()


def items():
    gw = Gateway({"providers": {"simulator": {"latencySeconds": 0.1}}})
    try:
        task = str(uuid.uuid4())
        code, _ = post(gw.port, json.dumps([{"taskType": "videoInference", "taskUUID": task, "model": "reelgate:simulator@1",
                                             "positivePrompt": "abuse", "numberResults": 4, "outputType": "base64Data"}]).encode())
        for _ in range(200):
            code, body = post(gw.port, json.dumps([{"taskType": "getResponse", "taskUUID": task}]).encode())
            if b'"processing"' not in body:
                break
            time.sleep(0.1)
        base = gw.hwm()
        for count in (1000, 100):
            code, body = post(gw.port, json.dumps([{"taskType": "getResponse", "taskUUID": task}] * count).encode())
            emit(f"items{count}_status", code)
            emit(f"items{count}_bytes", len(body), "B")
        emit("items_rss", round(gw.hwm() - base, 1), "MB")
        base = gw.hwm()
        junk = b"[" + b",".join([b'"x"'] * (4 * 1024 * 1024 // 4)) + b"]"
        code, body = post(gw.port, junk)
        emit("junk_status", code)
        emit("junk_bytes", len(body), "B")
        emit("junk_rss", round(gw.hwm() - base, 1), "MB")
    finally:
        gw.stop()


for attack in sys.argv[2:] or ["nokey", "trickle", "items"]:
    globals()[attack]()
