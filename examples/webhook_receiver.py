#!/usr/bin/env python3
"""A countersign webhook receiver: the other end of a `webhook` executor (docs/protocol.md §7.7).

It checks every delivery's signature, refuses stale ones, and acts on each idempotency key at
most once: a repeated key gets the first answer again, marked `"replayed": true`. Standard
library only; run it with

    COUNTERSIGN_WEBHOOK_SECRET=... python3 examples/webhook_receiver.py --port 9000

and point a kind at it: executor = { type = "webhook", url = "http://127.0.0.1:9000/",
secret = "..." }. Replace `perform` and `undo` with what your system does. The answers it
remembers live in memory here; a real receiver keeps them in its own database, in the same
transaction as the effect.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300  # deliveries signed longer ago (or ahead) than this are refused
SECRET = os.environ.get("COUNTERSIGN_WEBHOOK_SECRET", "").encode()

answers = {}  # Idempotency-Key -> the answer first given
lock = threading.Lock()


def verify(header, body, now):
    """Whether `header` is `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, signed recently."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(SECRET, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", "")) and abs(now - t) <= TOLERANCE_S


def perform(request):
    """Carries the approved request out. Here: prints it and hands back a receipt."""
    print(f"executing {request['kind']} {request['id']}: {request['title']}", flush=True)
    return {"receipt": f"rcpt-{request['id']}"}


def undo(request):
    """Undoes an executed request within its cancel window."""
    print(f"revoking {request['kind']} {request['id']}", flush=True)
    return {"revoked": request["id"]}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verify(self.headers.get("Countersign-Signature", ""), body, time.time()):
            return self.answer(401, {"error": "bad or stale signature"})
        key = self.headers.get("Idempotency-Key", "")
        delivery = json.loads(body)
        with lock:  # one delivery per key at a time; a repeat gets the first answer
            if key in answers:
                return self.answer(200, dict(answers[key], replayed=True))
            if delivery["event"] == "request.execute":
                answers[key] = perform(delivery["request"])
            elif delivery["event"] == "request.revoke":
                answers[key] = undo(delivery["request"])
            else:
                return self.answer(400, {"error": f"unknown event {delivery['event']}"})
            return self.answer(200, answers[key])

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # one line per action is printed by perform/undo


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    port = parser.parse_args().port
    if len(SECRET) < 16:
        sys.exit("set COUNTERSIGN_WEBHOOK_SECRET (at least 16 bytes, as in the kind's executor)")
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    server.serve_forever()
