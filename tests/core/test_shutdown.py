"""Graceful shutdown: a request in flight when SIGTERM arrives is still answered."""

import json
import signal
import socket
import time
from pathlib import Path

from tests.servers import running_service


def test_in_flight_request_finishes_after_sigterm(tmp_path: Path) -> None:
    body = json.dumps({"email": "late@example.com", "password": "long enough password"}).encode()
    with running_service(f"sqlite+aiosqlite:///{tmp_path / 'shutdown.db'}", tmp_path) as service:
        port = int(service.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            head = (
                f"POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            # Half the body now: the request is in flight while the server is told to stop.
            sock.sendall(head + body[:10])
            time.sleep(0.3)
            service.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(body[10:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        service.process.wait(timeout=30)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 201 Created", answer[:300]
    assert b"late@example.com" in answer
