"""How soon a finished task reaches the WebSocket session that submitted it (SPEC §15: within
50 ms of its last result being stored). Submits TASKS tasks over one socket, notes when each
push arrives, and compares with the time the task's event log says its results were stored.

usage: push_latency.py HOST PORT KEY TASKS"""
import json
import os
import socket
import struct
import sys
import time
import urllib.request
import uuid

host, port, key, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sock = socket.create_connection((host, port))
sock.sendall(f"GET /v1 HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += sock.recv(4096)
assert buf.startswith(b"HTTP/1.1 101"), buf
buf = buf[buf.index(b"\r\n\r\n") + 4:]


def send(obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    head += bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0x80 | 126]) + struct.pack(">H", len(data))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def receive():
    global buf
    while True:
        if len(buf) >= 2:
            n, h = buf[1] & 0x7F, 2
            if n == 126 and len(buf) >= 4:
                n, h = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127 and len(buf) >= 10:
                n, h = struct.unpack(">Q", buf[2:10])[0], 10
            if n < 126 or h > 2:
                if len(buf) >= h + n:
                    opcode, payload, buf = buf[0] & 0x0F, buf[h:h + n], buf[h + n:]
                    if opcode == 8:
                        raise SystemExit(f"closed by the server: {struct.unpack('>H', payload[:2])[0]} {payload[2:].decode()}")
                    return json.loads(payload)
        buf += sock.recv(65536)


send([{"taskType": "authentication", "apiKey": key}])
receive()
pending = set()
for _ in range(count):
    task = str(uuid.uuid4())
    pending.add(task)
    send([{"taskType": "videoInference", "taskUUID": task, "model": "reelgate:simulator@1", "positivePrompt": "push latency",
           "duration": 5, "numberResults": 2, "deliveryMethod": "async"}])
arrived = {}
while pending:
    message = receive()
    items = message.get("data", [])
    if items and items[0].get("status") == "success":
        arrived[items[0]["taskUUID"]] = time.time()
        pending.discard(items[0]["taskUUID"])
delays = []
for task, at in arrived.items():
    req = urllib.request.Request(f"http://{host}:{port}/v1/tasks/{task}", headers={"Authorization": f"Bearer {key}"})
    events = json.load(urllib.request.urlopen(req))["events"]
    stored = min(e["at"] for e in events if e["state"] in ("delivering", "succeeded"))
    delays.append((at - stored) * 1000)
delays.sort()
print(f"{delays[len(delays) // 2]:.2f} {delays[int(len(delays) * 0.99)]:.2f} {delays[-1]:.2f} {len(delays)}")
