"""`python -m sora_core.comfy_client`: queue a workflow on ComfyUI and download its video."""

import argparse
import sys

from ..errors import SoraError
from . import ComfyClient, apply_overrides, read_prompt


def _printer(kind: str, data: dict) -> None:
    if kind == "queued":
        print(f"queued {data['prompt_id']}", flush=True)
    elif kind == "progress":
        print(f"  node {data.get('node')}: step {data.get('value')}/{data.get('max')}", flush=True)
    elif kind == "executing" and data.get("node") is not None:
        print(f"running node {data['node']}", flush=True)
    elif kind == "execution_cached" and data.get("nodes"):
        print(f"cached nodes {', '.join(map(str, data['nodes']))}", flush=True)


def main(argv: "list[str] | None" = None) -> int:
    """Parse the command line, run the workflow, print the downloaded files."""
    parser = argparse.ArgumentParser(
        prog="python -m sora_core.comfy_client",
        description="Queue an API-format workflow on a running ComfyUI, follow its progress "
        "and download the files it saves (e.g. the video of Save Video).",
    )
    parser.add_argument(
        "workflow", help="API-format workflow JSON, e.g. workflows/api/text_to_video.json"
    )
    parser.add_argument(
        "--server", default="http://127.0.0.1:8188", help="ComfyUI URL (default %(default)s)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="change an input; NODE is a node id or title, e.g. --set 4.prompt='a cat' --set 5.seed=7",
    )
    parser.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="FILE",
        help="upload a file to ComfyUI's input folder first (then --set 8.image=FILE_NAME)",
    )
    parser.add_argument(
        "--output-dir", default=".", help="where to save the results (default: here)"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait for any event"
    )
    args = parser.parse_args(argv)
    try:
        prompt = apply_overrides(read_prompt(args.workflow), args.set)
        client = ComfyClient(args.server, args.timeout)
        for path in args.upload:
            print(f"uploaded {path} as {client.upload(path)}")
        files = client.run(prompt, args.output_dir, _printer)
    except (SoraError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in files:
        print(f"saved {path}")
    if not files:
        print("the workflow saved no files (does it end in Save Video / Save Image?)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
