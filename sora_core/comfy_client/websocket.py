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
# ComfyUI's largest messages are latent previews (a few MB); a server announcing more is
# broken or hostile, and would otherwise make the client allocate whatever it claims.
MAX_MESSAGE_BYTES = 256 << 20
MAX_HANDSHAKE_BYTES = 64 << 10


class WebSocketError(ConnectionError):
    """The server refused the upgrade or broke the framing."""


class WebSocket:
    """One client connection: `receive()` returns (opcode, payload) of each message."""

    def __init__(self, url: str, timeout: float = 30.0, max_message_bytes: int = MAX_MESSAGE_BYTES):
        self.max_message_bytes = max_message_bytes
        parts = urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        port = parts.port or (443 if secure else 80)
        raw = socket.create_connection((parts.hostname, port), timeout=timeout)
        if secure:
            raw = ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
        self._socket = raw
        self._buffer = bytearray()  # appended in place: joining bytes would copy per chunk
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
            if len(self._buffer) > MAX_HANDSHAKE_BYTES:
                raise WebSocketError("websocket upgrade refused: no end to the reply headers")
            self._buffer += self._read_some()
        head, rest = bytes(self._buffer).split(b"\r\n\r\n", 1)
        self._buffer = bytearray(rest)
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
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _frame(self, budget: int) -> "tuple[bool, int, bytes]":
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read(8))
        if length > budget:
            raise WebSocketError(
                f"the server sent a message over {self.max_message_bytes} bytes; refused"
            )
        mask = self._read(4) if second & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = _masked(payload, mask)
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
        self._socket.sendall(header + mask + _masked(payload, mask))

    def receive(self, timeout: "float | None" = None) -> "tuple[int, bytes]":
        """The next message (fragments joined); pings are answered on the way."""
        self._socket.settimeout(timeout)
        opcode, parts, size = None, [], 0
        while True:
            final, frame_opcode, payload = self._frame(self.max_message_bytes - size)
            if frame_opcode == PING:
                self.send(PONG, payload)
                continue
            if frame_opcode == CLOSE:
                raise WebSocketError("the server closed the websocket")
            if frame_opcode != 0:
                opcode = frame_opcode
            parts.append(payload)
            size += len(payload)
            if final:
                return opcode, b"".join(parts)

    def close(self) -> None:
        """Say goodbye and close the socket."""
        try:
            self.send(CLOSE, struct.pack(">H", 1000))
        except OSError:
            pass
        self._socket.close()


def _masked(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask, as one big-integer operation rather than a loop per byte."""
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(len(payload), "big")
