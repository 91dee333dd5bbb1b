#!/usr/bin/env python3
"""Receive latchkey webhooks and check their Standard Webhooks signatures (stdlib only).

    WEBHOOK_SECRET=whsec_... PORT=8080 python3 verify.py

A real receiver would also remember each webhook-id it has processed and skip repeats:
latchkey retries until it sees a 2xx, so a delivery can arrive more than once.
"""
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 5 * 60
MAX_BODY = 1 << 20


def load_key(secret):
    if not secret.startswith("whsec_"):
        raise SystemExit("WEBHOOK_SECRET must be whsec_ followed by base64")
    return base64.b64decode(secret[len("whsec_"):], validate=True)


KEY = load_key(os.environ.get("WEBHOOK_SECRET", ""))


def verify(headers, body, now):
    """Check any of the space-separated v1 signatures and the 5-minute timestamp tolerance."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not (ts.isascii() and ts.isdigit()):
        raise ValueError("webhook-timestamp is not a Unix time")
    if abs(now - int(ts)) > TOLERANCE_SECONDS:
        raise ValueError("webhook-timestamp is more than 5 minutes away")
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest())
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):  # constant time
            return
    raise ValueError("no matching v1 signature")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("the body is too large")
            body = self.rfile.read(length)
            verify(self.headers, body, int(time.time()))
            event_type = json.loads(body)["type"]
        except (ValueError, KeyError, TypeError) as e:
            print(f"rejected {e}", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        print(f"verified {event_type}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass  # stdout carries only the verified/rejected lines


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
