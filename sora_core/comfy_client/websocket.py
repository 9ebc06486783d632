"""A minimal WebSocket client (RFC 6455) over the standard library, enough for ComfyUI's /ws.

It reads text and binary messages, answers pings, and sends nothing but pongs and the
closing frame: ComfyUI's socket only talks to the client.
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(ConnectionError):
    """The server refused the upgrade or broke the framing."""


class WebSocket:
    """One client connection: `receive()` returns (opcode, payload) of each message."""

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        port = parts.port or (443 if secure else 80)
        raw = socket.create_connection((parts.hostname, port), timeout=timeout)
        if secure:
            raw = ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
        self._socket = raw
        self._buffer = b""
        self._handshake(parts, port)

    def _handshake(self, parts, port: int) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._socket.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._read_some()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if lines[0].split()[1:2] != ["101"] or headers.get("sec-websocket-accept") != expected:
            raise WebSocketError(f"websocket upgrade refused: {lines[0]}")

    def _read_some(self) -> bytes:
        chunk = self._socket.recv(65536)
        if not chunk:
            raise WebSocketError("the server closed the connection")
        return chunk

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._buffer += self._read_some()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _frame(self) -> "tuple[bool, int, bytes]":
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read(8))
        mask = self._read(4) if second & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def send(self, opcode: int, payload: bytes = b"") -> None:
        """Send one masked frame (clients must mask)."""
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack(">BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self._socket.sendall(header + mask + masked)

    def receive(self, timeout: "float | None" = None) -> "tuple[int, bytes]":
        """The next message (fragments joined); pings are answered on the way."""
        self._socket.settimeout(timeout)
        opcode, parts = None, []
        while True:
            final, frame_opcode, payload = self._frame()
            if frame_opcode == PING:
                self.send(PONG, payload)
                continue
            if frame_opcode == CLOSE:
                raise WebSocketError("the server closed the websocket")
            if frame_opcode != 0:
                opcode = frame_opcode
            parts.append(payload)
            if final:
                return opcode, b"".join(parts)

    def close(self) -> None:
        """Say goodbye and close the socket."""
        try:
            self.send(CLOSE, struct.pack(">H", 1000))
        except OSError:
            pass
        self._socket.close()
