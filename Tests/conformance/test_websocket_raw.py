"""The WebSocket handshake and close codes of the real binary, over a raw socket (SPEC §15): what
no SDK would send, answered as RFC 6455 says."""
import json
import os
import socket
import struct

import pytest

from reelgate_process import Gateway

KEY = "conformance-raw-key-0123456789"


@pytest.fixture(scope="module")
def gateway():
    gw = Gateway([("raw", KEY, "client")], {"server": {"websocket": {"maxMessageBytes": 4096}}}).start()
    yield gw
    gw.close()


def connect(gw, headers=None):
    host, port = gw.address.split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    lines = headers if headers is not None else [
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    sock.sendall(("GET /v1 HTTP/1.1\r\nHost: x\r\n" + "".join(l + "\r\n" for l in lines) + "\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, rest = data.split(b"\r\n\r\n", 1)
    return sock, head.decode(), rest


def frame(opcode, payload, masked=True, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    head += bytes([bit | n]) if n < 126 else bytes([bit | 126]) + struct.pack(">H", n) if n < 65536 else bytes([bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frames(sock, rest=b""):
    """Every frame the server sends until it closes the socket: [(opcode, payload)]."""
    data, frames = rest, []
    while True:
        while len(data) >= 2:
            n, h = data[1] & 0x7F, 2
            if n == 126:
                n, h = struct.unpack(">H", data[2:4])[0], 4
            elif n == 127:
                n, h = struct.unpack(">Q", data[2:10])[0], 10
            if len(data) < h + n:
                break
            assert data[1] & 0x80 == 0, "server frames are never masked"
            frames.append((data[0] & 0x0F, data[h:h + n]))
            data = data[h + n:]
        if frames and frames[-1][0] == 8:
            return frames
        chunk = sock.recv(65536)
        if not chunk:
            return frames
        data += chunk


def close_code(frames):
    assert frames and frames[-1][0] == 8, frames
    return struct.unpack(">H", frames[-1][1][:2])[0]


def test_handshake_refusals(gateway):
    _, head, _ = connect(gateway, [])
    assert head.startswith("HTTP/1.1 426") and "upgrade: websocket" in head.lower()
    _, head, _ = connect(gateway, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                   "Sec-WebSocket-Version: 8"])
    assert head.startswith("HTTP/1.1 426") and "sec-websocket-version: 13" in head.lower()
    _, head, _ = connect(gateway, ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: short", "Sec-WebSocket-Version: 13"])
    assert head.startswith("HTTP/1.1 400")
    _, head, _ = connect(gateway)
    assert head.startswith("HTTP/1.1 101") and "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head


def authenticate(sock, rest):
    sock.sendall(frame(1, json.dumps([{"taskType": "authentication", "apiKey": KEY}]).encode()))
    data = rest
    while len(data) < 2 or len(data) < 2 + (data[1] & 0x7F):
        data += sock.recv(4096)
    assert b"connectionSessionUUID" in data


@pytest.mark.parametrize("name,payload,code", [
    pytest.param("unmasked", frame(1, b"[]", masked=False), 1002, id="unmasked"),
    pytest.param("reserved bits", bytes([0xC1]) + frame(1, b"[]")[1:], 1002, id="reserved-bits"),
    pytest.param("reserved opcode", bytes([0x83]) + frame(1, b"[]")[1:], 1002, id="reserved-opcode"),
    pytest.param("fragmented ping", frame(9, b"x", fin=False), 1002, id="fragmented-ping"),
    pytest.param("binary", frame(2, b"\x00\x01"), 1003, id="binary"),
    pytest.param("invalid UTF-8", frame(1, b"[\xed\xa0\x80]"), 1007, id="invalid-UTF-8"),
    pytest.param("too big", frame(1, b"[" + b" " * 5000 + b"]"), 1009, id="too-big"),
])
def test_close_codes(gateway, name, payload, code):
    sock, head, rest = connect(gateway)
    authenticate(sock, rest)
    sock.sendall(payload)
    assert close_code(read_frames(sock)) == code, name


def test_bad_key_is_an_authentication_error_then_1008(gateway):
    sock, _, rest = connect(gateway)
    sock.sendall(frame(1, json.dumps([{"taskType": "authentication", "apiKey": "not-a-valid-key-000000"}]).encode()))
    frames = read_frames(sock, rest)
    reply = json.loads(frames[0][1])
    assert reply["errors"][0]["code"] == "invalidApiKey" and reply["errors"][0]["taskType"] == "authentication"
    assert close_code(frames) == 1008


def test_ping_and_close_echo(gateway):
    sock, _, rest = connect(gateway)
    sock.sendall(frame(9, b"heartbeat") + frame(8, struct.pack(">H", 1000) + b"bye"))
    frames = read_frames(sock, rest)
    assert frames[0] == (10, b"heartbeat")
    assert close_code(frames) == 1000
