"""Time the parsers and readers that hostile inputs used to make quadratic or unbounded.

Each case is an input from issue 18: a mask strategy of many groups, one large websocket
message, the longest prompt caption cleaning accepts, a config file refused for its size.
Reports the median over repeats.

    python benchmarks/hostile_inputs.py --repeats 3
"""

import argparse
import socket
import statistics
import struct
import tempfile
import threading
import time
from pathlib import Path

from sora_core.cli.config_files import load_config
from sora_core.comfy_client.websocket import WebSocket
from sora_core.conditioning import parse_mask_strategy
from sora_core.errors import ConfigError
from sora_core.text.cleaning import MAX_CLEANED_CHARACTERS, text_preprocessing


def mask_strategy(groups: int) -> None:
    """Parse `groups` groups with an error in the last (the message used to hold them all)."""
    try:
        parse_mask_strategy(";".join(["0,0,0,0,1,0.5"] * groups) + ";0,x")
    except ValueError:
        pass


def websocket_message(megabytes: int) -> None:
    """Receive one binary message of `megabytes` MiB over a local socket pair."""
    client, server = socket.socketpair()
    size = megabytes << 20
    receiver = WebSocket.__new__(WebSocket)  # the framing alone, without a handshake
    receiver._socket, receiver._buffer, receiver.max_message_bytes = client, bytearray(), size

    def send() -> None:
        server.sendall(struct.pack(">BBQ", 0x82, 127, size) + b"x" * size)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    receiver.receive(timeout=600)
    thread.join()
    client.close()
    server.close()


def cleaning() -> None:
    """Clean the longest accepted prompt of the slowest pattern found ("a.a.a....")."""
    text_preprocessing(("a." * MAX_CLEANED_CHARACTERS)[:MAX_CLEANED_CHARACTERS])


def config_power() -> None:
    """A config whose first line is `10 ** 10 ** 10` (used to hang)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "c.py")
        path.write_text("num_frames = 10 ** 10 ** 10\n")
        try:
            load_config(path)
        except ConfigError:
            pass


def main(argv: "list[str] | None" = None) -> None:
    """Parse the options and time each case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--groups", type=int, default=20_000, help="mask-strategy groups")
    parser.add_argument("--megabytes", type=int, default=128, help="websocket message size")
    args = parser.parse_args(argv)
    cases = {
        f"mask strategy, {args.groups} groups": lambda: mask_strategy(args.groups),
        f"websocket, one {args.megabytes} MiB message": lambda: websocket_message(args.megabytes),
        f"caption cleaning, {MAX_CLEANED_CHARACTERS} characters": cleaning,
        "config 10 ** 10 ** 10": config_power,
    }
    for name, case in cases.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            case()
            times.append(time.perf_counter() - start)
        print(f"{name}: median {statistics.median(times):.3f} s over {args.repeats} runs")


if __name__ == "__main__":
    main()
