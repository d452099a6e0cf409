"""A small MLLP sender: frame, send, wait for the ACK, retransmit after a lost connection.

Used by ``hospiflow replay``, the tests and the benchmark. ``send`` returns
the acknowledgment code (MSA-1) and its text; a connection lost before the
ACK came means the message may or may not have been committed, so the
sender reconnects and sends it again: the listener's MSH-10 check makes that
safe (at-least-once delivery, exactly-once application).
"""

from __future__ import annotations

import socket
import time

START, END = b"\x0b", b"\x1c\x0d"


class MllpClient:
    """One MLLP connection to ``host:port`` that reconnects when it must."""

    def __init__(
        self, host: str, port: int, *, timeout: float = 10.0, retry_seconds: float = 30.0
    ) -> None:
        self.host, self.port = host, port
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.retransmitted = 0

    def connect(self) -> None:
        self.close()
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def exchange(self, message: bytes) -> bytes:
        """Send one message and return its ACK's bytes (one try; raises on a lost link)."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(START + message + END)
        while END not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection")
            self.buffer += chunk
        frame, _sep, self.buffer = self.buffer.partition(END)
        return frame[frame.find(START) + 1 :]

    def send(self, message: bytes) -> tuple[str, str]:
        """Deliver one message, reconnecting and retransmitting until acknowledged."""
        deadline = time.monotonic() + self.retry_seconds
        first = True
        while True:
            try:
                if not first:
                    self.retransmitted += 1
                first = False
                return ack_code(self.exchange(message))
            except OSError:
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def ack_code(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-3) of an acknowledgment."""
    for segment in ack.decode("utf-8", "replace").split("\r"):
        if segment.startswith("MSA"):
            parts = segment.split("|")
            return (parts[1] if len(parts) > 1 else "", parts[3] if len(parts) > 3 else "")
    return "", "no MSA segment"
