"""Queue an API-format workflow on a running ComfyUI, follow it, download what it saved.

Standard library only, and only HTTP: `POST /prompt` with a client id, progress from the
websocket `/ws?clientId=`, the saved files from `/history/<prompt_id>` and `/view`.
Files for LoadImage / LoadVideo go up with `POST /upload/image`. Nothing here imports
ComfyUI. Command line: `python -m sora_core.comfy_client --help`.
"""

import json
import mimetypes
import os
import re
import uuid
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from ..errors import ConfigError, RemoteError
from ..json_files import read_json_file
from .websocket import TEXT, WebSocket, WebSocketError

# `ui` keys whose entries are files ComfyUI saved ({"filename", "subfolder", "type"}).
FILE_KEYS = ("images", "gifs", "videos", "audio", "3d")
Event = Callable[[str, dict], None]
MAX_REPLY_BYTES = 64 << 20  # a JSON answer (history, queue); files stream to disk instead
MAX_DOWNLOAD_BYTES = 16 << 30
CHUNK_BYTES = 1 << 20
# Characters no saved file name needs and that mean something to Windows or POSIX paths:
# separators, drive colons, control characters.
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def read_prompt(path: "str | Path") -> dict:
    """An API-format workflow ("Export (API)"), or the `prompt` of a /prompt request body."""
    data = read_json_file(path, "workflow", ConfigError, expect=None)
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        raise ConfigError(
            f"workflow: {path} is a UI-format workflow; queue its API twin (workflows/api/) or "
            "save it with Workflow > Export (API)"
        )
    if (
        not isinstance(data, dict)
        or not data
        or not all(isinstance(node, dict) and "class_type" in node for node in data.values())
    ):
        raise ConfigError(
            f"workflow: {path} is not an API-format workflow ({{id: {{class_type, inputs}}}})"
        )
    return data


def _value(text: str):
    """JSON when it parses (numbers, true, lists), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_overrides(prompt: dict, assignments: "list[str]") -> dict:
    """`NODE.INPUT=VALUE` settings: NODE is a node id or its title; VALUE JSON or text."""
    prompt = json.loads(json.dumps(prompt))
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        node_ref, dot, name = target.rpartition(".")
        if not equals or not dot or not node_ref or not name:
            raise ConfigError(
                f"--set {assignment!r}: write NODE.INPUT=VALUE, e.g. 4.prompt='a cat'"
            )
        matches = [
            node_id
            for node_id, node in prompt.items()
            if node_ref in (node_id, node.get("_meta", {}).get("title"))
        ]
        if len(matches) != 1:
            ids = {node_id: node["class_type"] for node_id, node in prompt.items()}
            found = "no node" if not matches else f"nodes {matches}"
            raise ConfigError(
                f"--set {assignment!r}: {found} with id or title {node_ref!r}; ids: {ids}"
            )
        inputs = prompt[matches[0]]["inputs"]
        if name not in inputs:
            raise ConfigError(
                f"--set {assignment!r}: node {matches[0]} has no input {name!r}; it has {sorted(inputs)}"
            )
        if isinstance(inputs[name], list):
            raise ConfigError(
                f"--set {assignment!r}: {name} is linked to another node, not a value"
            )
        inputs[name] = _value(text) if not isinstance(inputs[name], str) else text
    return prompt


class ComfyClient:
    """One client of a ComfyUI server (`http://host:port`), with its own websocket client id."""

    def __init__(self, server: str, timeout: float = 3600.0):
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(
        self, path: str, body: "bytes | None" = None, headers: "dict | None" = None
    ) -> bytes:
        with self._open(path, body, headers) as response:
            try:
                reply = response.read(MAX_REPLY_BYTES + 1)
            except (OSError, HTTPException) as error:
                raise RemoteError(f"server {self.server}: {path} failed ({error})") from None
        if len(reply) > MAX_REPLY_BYTES:
            raise RemoteError(f"{path}: the server's reply is over {MAX_REPLY_BYTES} bytes")
        return reply

    def _open(self, path: str, body: "bytes | None" = None, headers: "dict | None" = None):
        request = Request(self.server + path, data=body, headers=headers or {})
        try:
            return urlopen(request, timeout=60)
        except HTTPError as error:
            detail = error.read(MAX_REPLY_BYTES).decode(errors="replace")
            raise RemoteError(f"{path}: HTTP {error.code}: {_error_text(detail)}") from None
        except URLError as error:
            raise RemoteError(f"server {self.server}: cannot connect ({error.reason})") from None
        except (OSError, ValueError, HTTPException) as error:  # resets, malformed status lines
            raise RemoteError(f"server {self.server}: {path} failed ({error})") from None

    def _json(self, path: str, payload: "dict | None" = None) -> dict:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body else {}
        return _reply_object(path, self._request(path, body, headers))

    def upload(self, path: "str | Path") -> str:
        """Put a file in the server's input folder (as the Load Image upload button does)."""
        path = Path(path)
        boundary = uuid.uuid4().hex
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        fields = [
            (f'name="image"; filename="{path.name}"\r\nContent-Type: {kind}', path.read_bytes()),
            ('name="overwrite"', b"true"),
        ]
        body = (
            b"".join(
                f"--{boundary}\r\nContent-Disposition: form-data; {head}\r\n\r\n".encode()
                + data
                + b"\r\n"
                for head, data in fields
            )
            + f"--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        answer = _reply_object("/upload/image", self._request("/upload/image", body, headers))
        name, subfolder = answer.get("name"), answer.get("subfolder") or ""
        if not isinstance(name, str) or not name or not isinstance(subfolder, str):
            raise RemoteError(f"/upload/image: the server's reply names no file: {answer!r:.200}")
        return "/".join(part for part in (subfolder, name) if part)

    def _websocket(self) -> WebSocket:
        parts = urlsplit(self.server)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode({"clientId": self.client_id})
        url = urlunsplit((scheme, parts.netloc, parts.path + "/ws", query, ""))
        try:
            return WebSocket(url)
        except (OSError, WebSocketError) as error:
            raise RemoteError(
                f"server {self.server}: cannot connect to the websocket ({error})"
            ) from None

    def queue(self, prompt: dict) -> str:
        """POST /prompt; returns the prompt id (validation errors become RemoteError)."""
        answer = self._json("/prompt", {"prompt": prompt, "client_id": self.client_id})
        prompt_id = answer.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise RemoteError(f"/prompt: the server's reply has no prompt_id: {answer!r:.200}")
        return prompt_id

    def wait(self, socket: WebSocket, prompt_id: str, on_event: "Event | None" = None) -> None:
        """Follow the run on the websocket until it ends; an error in a node raises."""
        while True:
            try:
                opcode, payload = socket.receive(timeout=self.timeout)
            except (OSError, WebSocketError) as error:
                raise RemoteError(f"prompt {prompt_id}: lost the websocket ({error})") from None
            if opcode != TEXT:
                continue  # binary frames are latent previews
            message = _reply_object("/ws", payload)
            kind, data = message.get("type"), message.get("data") or {}
            if not isinstance(data, dict):
                raise RemoteError(f"/ws: a {kind!r} message carries no data object: {data!r:.200}")
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if on_event:
                on_event(kind, data)
            if kind == "execution_error":
                raise RemoteError(
                    f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
                    f"{data.get('exception_type')}: {str(data.get('exception_message', '')).strip()}"
                )
            if kind == "execution_interrupted":
                raise RemoteError(f"prompt {prompt_id} was interrupted")
            if (
                kind == "executing"
                and data.get("node") is None
                and data.get("prompt_id") == prompt_id
            ):
                return

    def saved_files(self, prompt_id: str) -> "list[dict]":
        """The files the output nodes reported, from /history."""
        history = self._json(f"/history/{prompt_id}").get(prompt_id) or {}
        outputs = history.get("outputs") if isinstance(history, dict) else None
        if not isinstance(outputs, dict):
            raise RemoteError(f"/history/{prompt_id}: the server's reply lists no outputs")
        return [
            entry
            for output in outputs.values()
            if isinstance(output, dict)
            for key in FILE_KEYS
            if isinstance(output.get(key), list)
            for entry in output[key]
            if isinstance(entry, dict) and entry.get("filename")
        ]

    def download(
        self, entry: dict, target: "str | Path", max_bytes: int = MAX_DOWNLOAD_BYTES
    ) -> Path:
        """GET /view of one saved file into `target` (its subfolder kept), streamed to disk."""
        relative = _saved_path(entry, target)
        query = urlencode(
            {
                "filename": entry["filename"],
                "subfolder": entry.get("subfolder") or "",
                "type": entry.get("type") or "output",
            }
        )
        destination = Path(target, relative)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        try:
            with self._open(f"/view?{query}") as response, open(partial, "wb") as file:
                written = 0
                while chunk := response.read(CHUNK_BYTES):
                    written += len(chunk)
                    if written > max_bytes:
                        raise RemoteError(
                            f"output {relative}: over {max_bytes} bytes; download stopped"
                        )
                    file.write(chunk)
            os.replace(partial, destination)
        except (OSError, HTTPException) as error:
            raise RemoteError(f"output {relative}: download failed ({error})") from None
        finally:
            partial.unlink(missing_ok=True)
        return destination

    def run(
        self, prompt: dict, target: "str | Path", on_event: "Event | None" = None
    ) -> "list[Path]":
        """Queue `prompt`, wait for it, download every saved file into `target`."""
        socket = self._websocket()  # before queueing, so no event is missed
        try:
            prompt_id = self.queue(prompt)
            if on_event:
                on_event("queued", {"prompt_id": prompt_id})
            self.wait(socket, prompt_id, on_event)
        finally:
            socket.close()
        return [self.download(entry, target) for entry in self.saved_files(prompt_id)]


def _reply_object(path: str, reply: bytes) -> dict:
    """A server reply that must be a JSON object; anything else is the server's fault."""
    try:
        answer = json.loads(reply)
    except (ValueError, RecursionError):
        raise RemoteError(f"{path}: the server's reply is not JSON: {reply[:200]!r}") from None
    if not isinstance(answer, dict):
        raise RemoteError(f"{path}: the server's reply is not a JSON object: {reply[:200]!r}")
    return answer


def _saved_path(entry: dict, target: "str | Path") -> Path:
    """The relative path a saved file keeps under `target`; refuses names that escape it.

    Checked for both POSIX and Windows meanings (`C:evil`, `\\evil`, `..`), whatever
    the client runs on: a server's names are never trusted.
    """
    filename, subfolder = entry.get("filename"), entry.get("subfolder") or ""
    if not isinstance(filename, str) or not isinstance(subfolder, str):
        raise RemoteError(f"output {entry!r:.200}: filename and subfolder must be text")
    folders = [part for part in re.split(r"[\\/]", subfolder) if part not in ("", ".")]
    for part in (*folders, filename):
        if part in ("", ".", "..") or _UNSAFE_NAME.search(part):
            raise RemoteError(
                f"output {subfolder!r}/{filename!r}: refused, it would be saved outside "
                f"{target} (names may not hold '..', separators in file names, drive "
                "colons or control characters)"
            )
    return Path(*folders, filename)


def _error_text(detail: str) -> str:
    """ComfyUI's /prompt refusal as one readable line per problem."""
    try:
        answer = json.loads(detail)
    except (ValueError, RecursionError):
        return detail.strip()[:500]
    if not isinstance(answer, dict):
        return detail.strip()[:500]
    error = answer.get("error")
    lines = [error.get("message", "") if isinstance(error, dict) else str(error or "")]
    node_errors = answer.get("node_errors")
    for node_id, problem in (node_errors if isinstance(node_errors, dict) else {}).items():
        problem = problem if isinstance(problem, dict) else {}
        errors = problem.get("errors")
        for item in errors if isinstance(errors, list) else []:
            item = item if isinstance(item, dict) else {"message": item}
            lines.append(
                f"node {node_id} ({problem.get('class_type')}): {item.get('message')}: {item.get('details')}"
            )
    return "; ".join(str(line) for line in lines if line)
