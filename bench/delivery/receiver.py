"""Webhook receiver for bench/delivery: answers 200 and records (webhook-id, arrival time)."""
import http.server
import sys
import threading
import time

arrivals = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        now = time.time()
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        with lock:
            arrivals.setdefault(self.headers.get("webhook-id", "?"), now)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # /dump: the arrivals so far, one "id time" per line
        with lock:
            body = "".join(f"{k} {v:.6f}\n" for k, v in arrivals.items()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # The default listen backlog of 5 drops SYNs under a burst (a 1 s retransmit per drop):
    # that would measure this receiver, not the gateway.
    request_queue_size = 1024
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
