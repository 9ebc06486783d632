"""The example client against a stand-in ComfyUI: HTTP routes and a real websocket."""

import base64
import contextlib
import hashlib
import json
import queue
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from workflow_graphs import WORKFLOWS_DIR

from sora_core.comfy_client import ComfyClient, apply_overrides, read_prompt
from sora_core.comfy_client.__main__ import main
from sora_core.comfy_client.websocket import GUID, PING, WebSocket, WebSocketError
from sora_core.errors import ConfigError, RemoteError

VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42 a saved video"
SAVED = {"filename": "t2v_00001_.mp4", "subfolder": "opensora", "type": "output"}


def _frame(opcode: int, payload: bytes, final: bool = True) -> bytes:
    head = (0x80 if final else 0) | opcode
    if len(payload) < 126:
        return struct.pack(">BB", head, len(payload)) + payload
    return struct.pack(">BBH", head, 126, len(payload)) + payload


class StandIn(BaseHTTPRequestHandler):
    """ComfyUI's /prompt, /ws, /history, /view and /upload/image, as 0.3.64 answers them."""

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        state = self.server.state
        if self.path == "/upload/image":
            state["uploads"].append(body)
            return self._send(
                200, json.dumps({"name": "mine.png", "subfolder": "", "type": "input"}).encode()
            )
        request = json.loads(body)
        if any(node["class_type"] == "Invalid" for node in request["prompt"].values()):
            errors = {
                "1": {
                    "class_type": "Invalid",
                    "errors": [{"message": "Value not in list", "details": "x"}],
                }
            }
            answer = {
                "error": {"message": "Prompt outputs failed validation"},
                "node_errors": errors,
            }
            return self._send(400, json.dumps(answer).encode())
        state["prompts"].append(request)
        state["queued"][request["client_id"]].put(request)
        self._send(200, json.dumps({"prompt_id": "p1", "number": 0, "node_errors": {}}).encode())

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path == "/ws":
            return self._websocket(parse_qs(parts.query)["clientId"][0])
        if parts.path == "/history/p1":
            outputs = {"7": {"images": [SAVED], "animated": [True]}}
            return self._send(200, json.dumps({"p1": {"outputs": outputs}}).encode())
        if parts.path == "/view" and parse_qs(parts.query)["filename"] == [SAVED["filename"]]:
            return self._send(200, VIDEO_BYTES, "video/mp4")
        self._send(404, b"{}")

    def _websocket(self, client_id: str) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.server.state["queued"].setdefault(
            client_id, queue.Queue()
        )  # before the client can queue
        self.wfile.write(
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self.close_connection = True

        def send(kind: str, data: dict) -> None:
            self.wfile.write(_frame(1, json.dumps({"type": kind, "data": data}).encode()))

        send("status", {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id})
        request = self.server.state["queued"][client_id].get(timeout=10)
        failing = any(node["class_type"] == "Fails" for node in request["prompt"].values())
        send("execution_start", {"prompt_id": "p1"})
        send("executing", {"node": "5", "prompt_id": "p1"})
        self.wfile.write(_frame(PING, b"are you there"))
        self.wfile.write(_frame(2, b"\x00\x00\x00\x01" + b"preview" * 40))  # binary preview
        progress = json.dumps(
            {"type": "progress", "data": {"value": 1, "max": 2, "node": "5", "prompt_id": "p1"}}
        )
        self.wfile.write(
            _frame(1, progress[:10].encode(), final=False) + _frame(0, progress[10:].encode())
        )
        if failing:
            error = {
                "prompt_id": "p1",
                "node_id": "5",
                "node_type": "OpenSoraSampler",
                "exception_type": "ConfigError",
                "exception_message": "width: 40 is not a multiple of 16",
            }
            send("execution_error", error)
        else:
            send("executing", {"node": "other prompt", "prompt_id": "p0"})
            send("executed", {"node": "7", "output": {"images": [SAVED]}, "prompt_id": "p1"})
            send("executing", {"node": None, "prompt_id": "p1"})
        self.server.state["pong"] = self.rfile.read(2)[0] & 0x0F  # the client's answer to the ping


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    httpd.state = {"prompts": [], "uploads": [], "queued": {}}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_client_queues_follows_progress_and_downloads_the_video(server, tmp_path):
    prompt = read_prompt(WORKFLOWS_DIR / "api" / "text_to_video.json")
    events = []
    files = ComfyClient(_url(server)).run(
        prompt, tmp_path, lambda kind, data: events.append((kind, data))
    )
    assert files == [tmp_path / "opensora" / SAVED["filename"]]
    assert files[0].read_bytes() == VIDEO_BYTES
    (request,) = server.state["prompts"]
    assert request["prompt"] == prompt and request["client_id"]
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "queued" and ("progress", 1) in [(k, d.get("value")) for k, d in events]
    assert kinds[-1] == "executing" and events[-1][1]["node"] is None
    assert "p0" not in json.dumps(events)  # another prompt's events are not ours
    assert server.state["pong"] == 0xA


def test_command_line_sets_inputs_uploads_and_saves(server, tmp_path, capsys):
    image = tmp_path / "mine.png"
    image.write_bytes(b"\x89PNG fake")
    workflow = WORKFLOWS_DIR / "api" / "image_to_video.json"
    code = main(
        [
            str(workflow),
            "--server",
            _url(server),
            "--upload",
            str(image),
            "--set",
            "8.image=mine.png",
            "--set",
            "4.prompt=a cat, 4 paws",
            "--set",
            "Open-Sora Sampler.seed=7",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    inputs = {k: v["inputs"] for k, v in server.state["prompts"][0]["prompt"].items()}
    assert inputs["8"]["image"] == "mine.png" and inputs["4"]["prompt"] == "a cat, 4 paws"
    assert inputs["5"]["seed"] == 7
    assert b'filename="mine.png"' in server.state["uploads"][0]
    output = capsys.readouterr().out
    assert "step 1/2" in output and "saved " in output
    assert (tmp_path / "out" / "opensora" / SAVED["filename"]).exists()


def test_node_failure_and_validation_errors_are_reported(server, tmp_path):
    client = ComfyClient(_url(server))
    with pytest.raises(RemoteError, match=r"node 5 \(OpenSoraSampler\) failed: ConfigError: width"):
        client.run({"5": {"class_type": "Fails", "inputs": {}}}, tmp_path)
    with pytest.raises(RemoteError, match=r"HTTP 400: .*node 1 \(Invalid\): Value not in list"):
        client.run({"1": {"class_type": "Invalid", "inputs": {}}}, tmp_path)


def test_unreachable_server_is_one_line_error(capsys):
    code = main(
        [str(WORKFLOWS_DIR / "api" / "text_to_video.json"), "--server", "http://127.0.0.1:9"]
    )
    assert code == 1 and "cannot connect" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("prompt=a cat", "write NODE.INPUT=VALUE"),
        ("99.prompt=x", "no node with id or title '99'"),
        ("4.promt=x", "has no input 'promt'"),
        ("5.model=x", "linked to another node"),
    ],
)
def test_bad_overrides_name_what_is_wrong(assignment, message):
    prompt = read_prompt(WORKFLOWS_DIR / "api" / "text_to_video.json")
    with pytest.raises(ConfigError, match=message):
        apply_overrides(prompt, [assignment])


def test_ui_format_workflow_is_refused_with_the_way_out():
    with pytest.raises(ConfigError, match="UI-format.*Export \\(API\\)"):
        read_prompt(WORKFLOWS_DIR / "text_to_video.json")


def test_files_outside_the_output_folder_are_refused(tmp_path):
    entry = {"filename": "x.mp4", "subfolder": "../..", "type": "output"}
    with pytest.raises(RemoteError, match="outside"):
        ComfyClient("http://127.0.0.1:9").download(entry, tmp_path)


@pytest.mark.parametrize(
    "entry",
    [
        {"filename": "C:evil.txt"},
        {"filename": "\\evil.txt"},
        {"filename": "x.mp4", "subfolder": "C:"},
        {"filename": "x.mp4", "subfolder": "..\\.."},
        {"filename": "x.mp4", "subfolder": "opensora\\..\\.."},
        {"filename": ".."},
        {"filename": "a/b.mp4"},
        {"filename": "x.mp4\x00.txt"},
        {"filename": ["x.mp4"]},
    ],
)
def test_windows_style_and_malformed_names_are_refused_on_every_system(entry, tmp_path):
    with pytest.raises(RemoteError, match="saved outside|must be text"):
        ComfyClient("http://127.0.0.1:9").download(entry, tmp_path)
    assert not any(tmp_path.iterdir())


def test_download_over_the_size_limit_stops_and_leaves_no_file(server, tmp_path):
    with pytest.raises(RemoteError, match="over 10 bytes"):
        ComfyClient(_url(server)).download(SAVED, tmp_path, max_bytes=10)
    assert list((tmp_path / "opensora").iterdir()) == []


class Malformed(BaseHTTPRequestHandler):
    """A server answering every request with the bytes in `server.reply`."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.server.reply
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.do_GET()


@pytest.mark.parametrize(
    ("call", "reply"),
    [
        ("queue", b"<html>not json</html>"),
        ("queue", b"[1, 2]"),
        ("queue", b'{"number": 0}'),
        ("queue", b"[" * 100_000 + b"]" * 100_000),
        ("saved_files", b"[]"),
        ("saved_files", b'{"p1": {"outputs": []}}'),
        ("saved_files", b'{"p1": "done"}'),
        ("upload", b'{"subfolder": ""}'),
    ],
)
def test_malformed_server_replies_are_remote_errors(call, reply, tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Malformed)
    httpd.reply = reply
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    client = ComfyClient(_url(httpd))
    image = tmp_path / "mine.png"
    image.write_bytes(b"\x89PNG")
    arguments = {"queue": ({},), "saved_files": ("p1",), "upload": (image,)}[call]
    try:
        with pytest.raises(RemoteError, match="reply"):
            getattr(client, call)(*arguments)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_history_entries_of_the_wrong_shape_are_skipped(tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Malformed)
    httpd.reply = json.dumps(
        {"p1": {"outputs": {"7": {"images": "x"}, "8": [1], "9": {"videos": [SAVED, 3]}}}}
    ).encode()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        assert ComfyClient(_url(httpd)).saved_files("p1") == [SAVED]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _raw_websocket_server(send) -> "tuple[str, threading.Thread]":
    """A one-connection server that completes the upgrade (unless told not to), then `send`s."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = listener.accept()
        with connection, listener:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            key = re.search(rb"Sec-WebSocket-Key: (\S+)", request).group(1).decode()
            send(connection, base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()))
            # hold the connection open until the client gives up (a close or a reset)
            with contextlib.suppress(ConnectionResetError):
                connection.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"ws://127.0.0.1:{listener.getsockname()[1]}/ws", thread


def _upgrade(connection, accept: bytes) -> None:
    connection.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def test_websocket_refuses_a_message_announced_over_the_limit():
    def send(connection, accept):
        _upgrade(connection, accept)
        connection.sendall(struct.pack(">BBQ", 0x82, 127, 1 << 40))

    url, thread = _raw_websocket_server(send)
    client = WebSocket(url)
    with pytest.raises(WebSocketError, match="over"):
        client.receive(timeout=5)
    client.close()
    thread.join(5)


def test_websocket_refuses_fragments_adding_up_over_the_limit():
    def send(connection, accept):
        _upgrade(connection, accept)
        connection.sendall(_frame(2, b"x" * 60, final=False) + _frame(0, b"x" * 60))

    url, thread = _raw_websocket_server(send)
    client = WebSocket(url, max_message_bytes=100)
    with pytest.raises(WebSocketError, match="over 100 bytes"):
        client.receive(timeout=5)
    client.close()
    thread.join(5)


def test_websocket_refuses_an_upgrade_reply_without_end():
    def send(connection, accept):
        connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X: y\r\n" * 20_000)

    url, thread = _raw_websocket_server(send)
    with pytest.raises(WebSocketError, match="no end"):
        WebSocket(url, timeout=5)
    thread.join(5)


def test_websocket_reads_a_large_message_whole():
    payload = bytes(range(256)) * 4096  # 1 MiB, arriving in many reads

    def send(connection, accept):
        _upgrade(connection, accept)
        connection.sendall(struct.pack(">BBQ", 0x82, 127, len(payload)) + payload)

    url, thread = _raw_websocket_server(send)
    client = WebSocket(url)
    assert client.receive(timeout=5) == (2, payload)
    client.close()
    thread.join(5)
