"""Sizes of videos and latents: resolution tables, frame counts, latent shapes, model size info.

Everything here is integer arithmetic on Open-Sora's conventions, so a pipeline can check a
request (and say what would work) before any model is loaded.
"""

import math
from collections.abc import Sequence

import torch

from .aspect_tables import ASPECT_RATIO_MAP, ASPECT_RATIOS, NUM_FRAMES_MAP
from .errors import ConfigError, VideoShapeError

# The fps condition Open-Sora gives single images (videos get their real fps).
IMG_FPS = 120

# Open-Sora 1.2's VAE encodes 17-frame chunks into 5 latent frames each.
MICRO_FRAME_SIZE = 17
MICRO_LATENT_FRAMES = 5
TEMPORAL_DOWNSAMPLE = 4
SPATIAL_DOWNSAMPLE = 8

# Open-Sora Plan v1.3: accepted pixel budgets for arbitrary input sizes, and the crop stride.
# Frames of one clip: 42 s at 24 fps, far past the 16 s Open-Sora 1.2 was trained on; more
# is a typo (or duration x fps gone wrong) that would run for hours.
MAX_FRAMES = 1024
MAX_HXW_RANGE = (102_400, 236_544)
DEFAULT_MAX_HXW = 236_544
PLAN_SPATIAL_STRIDE = 32


def _resolution_table(resolution: str) -> "dict[str, tuple[int, int]]":
    if resolution not in ASPECT_RATIOS:
        raise ConfigError(
            f"resolution {resolution!r} is not known; choose one of {list(ASPECT_RATIOS)}"
        )
    return ASPECT_RATIOS[resolution][1]


def num_pixels(resolution: str) -> int:
    """The pixel count a named resolution stands for ("240p" -> 102240)."""
    _resolution_table(resolution)
    return ASPECT_RATIOS[resolution][0]


def get_image_size(resolution: str, aspect_ratio: str) -> "tuple[int, int]":
    """(height, width) of a named resolution at an "H:W" aspect ratio ("480p", "9:16")."""
    if aspect_ratio not in ASPECT_RATIO_MAP:
        raise ConfigError(
            f"aspect_ratio {aspect_ratio!r} is not known; write it as H:W, one of "
            f"{list(ASPECT_RATIO_MAP)}"
        )
    table = _resolution_table(resolution)
    key = ASPECT_RATIO_MAP[aspect_ratio]
    if key not in table:
        usable = [ratio for ratio, k in ASPECT_RATIO_MAP.items() if k in table]
        raise ConfigError(
            f"aspect_ratio {aspect_ratio!r} is not in the {resolution!r} table; "
            f"it has {usable or 'none of the H:W ratios'}"
        )
    return table[key]


def get_closest_ratio(height: float, width: float, ratios: "Sequence[str]") -> str:
    """The aspect key nearest to height/width; the first key wins a tie (table order)."""
    aspect = height / width
    return min(ratios, key=lambda ratio: abs(float(ratio) - aspect))


def closest_image_size(height: float, width: float, resolution: str) -> "tuple[int, int]":
    """The table entry of `resolution` whose aspect is closest to height x width."""
    table = _resolution_table(resolution)
    return table[get_closest_ratio(height, width, list(table))]


def get_num_frames(num_frames: "str | int") -> int:
    """Frame count from "4s", "2x" or a number ("51", 16)."""
    if isinstance(num_frames, str) and num_frames in NUM_FRAMES_MAP:
        return NUM_FRAMES_MAP[num_frames]
    try:
        return int(num_frames)
    except (TypeError, ValueError):
        raise ConfigError(
            f"num_frames {num_frames!r} is neither an integer nor one of {list(NUM_FRAMES_MAP)}"
        ) from None


def aspect_ratio_sizes(
    num_pixels: int, aspect_ratios: "Sequence[str]" = tuple(ASPECT_RATIO_MAP)
) -> "dict[str, tuple[int, int]]":
    """Open-Sora's formula for (h, w) near `num_pixels` per "H:W" ratio (even sides).

    The stored tables were not made with it: use them for named resolutions, and this only
    for pixel budgets the tables do not cover. Keys are the ratio to two decimals.
    """
    values = [ratio_value(ratio) for ratio in aspect_ratios]
    return {f"{value:.2f}": _even_size(value, num_pixels) for value in values}


def _even_size(ratio: float, pixels: int, slack: float = 1e-4) -> "tuple[int, int]":
    height = _even_side((pixels * ratio) ** 0.5 + slack)
    width = _even_side(height / ratio + slack)
    return height, width


def _even_side(value: float) -> int:
    return math.ceil(value) if math.ceil(value) % 2 == 0 else math.floor(value)


def ratio_value(aspect_ratio: str) -> float:
    """ "9:16" -> 0.5625 (height over width)."""
    try:
        height, width = (int(side) for side in aspect_ratio.split(":"))
        return height / width
    except (ValueError, ZeroDivisionError):
        raise ConfigError(
            f"aspect_ratio {aspect_ratio!r} must be two positive integers H:W, e.g. '9:16'"
        ) from None


def dframe_to_frame(latent_frames: int) -> int:
    """Pixel frames covered by `latent_frames` latent frames of Open-Sora 1.2 (5 -> 17)."""
    if latent_frames % MICRO_LATENT_FRAMES:
        raise VideoShapeError(
            f"latent frame count {latent_frames} must be a multiple of {MICRO_LATENT_FRAMES} "
            f"(each {MICRO_FRAME_SIZE}-frame chunk encodes to {MICRO_LATENT_FRAMES} latent frames)"
        )
    return latent_frames // MICRO_LATENT_FRAMES * MICRO_FRAME_SIZE


def temporal_latent_frames(num_frames: int) -> int:
    """Latent frames of the temporal VAE alone: front-padded to a multiple of 4, then /4."""
    return -(-num_frames // TEMPORAL_DOWNSAMPLE)


def chunked_latent_frames(
    num_frames: int, micro_frame_size: "int | None" = MICRO_FRAME_SIZE
) -> int:
    """Latent frames of Open-Sora 1.2's VAE, which encodes `micro_frame_size`-frame chunks."""
    if micro_frame_size is None:
        return temporal_latent_frames(num_frames)
    full_chunks, remainder = divmod(num_frames, micro_frame_size)
    latent = full_chunks * temporal_latent_frames(micro_frame_size)
    return latent + (temporal_latent_frames(remainder) if remainder else 0)


def pixel_frame_to_latent(frame: int, micro_frame_size: int = MICRO_FRAME_SIZE) -> int:
    """The 1.2 latent frame that holds pixel frame `frame` (51 frames: 0 -> 0, 47..50 -> 14).

    Each 17-frame chunk is front-padded by 3 frames, so its first frame has a latent of
    its own and every later latent covers 4 frames.
    """
    if frame < 0:
        raise VideoShapeError(f"pixel frame {frame} must be >= 0")
    chunk, within = divmod(frame, micro_frame_size)
    padding = -micro_frame_size % TEMPORAL_DOWNSAMPLE
    return (
        chunk * temporal_latent_frames(micro_frame_size) + (within + padding) // TEMPORAL_DOWNSAMPLE
    )


def latent_size(
    input_size: "Sequence[int | None]",
    vae: str = "VideoAutoencoderPipeline",
    micro_frame_size: "int | None" = MICRO_FRAME_SIZE,
) -> "list[int | None]":
    """[T, H, W] -> latent [T, h, w] for a VAE type named as in Open-Sora's configs.

    `VideoAutoencoderKL` (1.0/1.1, per frame), `VAE_Temporal_SD` (temporal half alone),
    `VideoAutoencoderPipeline` / `OpenSoraVAE_V1_2` (1.2, spatial then chunked temporal).
    None entries stay None.
    """
    frames, height, width = input_size
    if vae == "VideoAutoencoderKL":
        return [frames, _spatial(height), _spatial(width)]
    if vae == "VAE_Temporal_SD":
        return [None if frames is None else temporal_latent_frames(frames), height, width]
    if vae in ("VideoAutoencoderPipeline", "OpenSoraVAE_V1_2"):
        if frames is not None:
            frames = chunked_latent_frames(frames, micro_frame_size)
        return [frames, _spatial(height), _spatial(width)]
    raise ConfigError(
        f"vae {vae!r} is not known; choose VideoAutoencoderKL, VAE_Temporal_SD, "
        "VideoAutoencoderPipeline or OpenSoraVAE_V1_2"
    )


def _spatial(size: "int | None") -> "int | None":
    return None if size is None else size // SPATIAL_DOWNSAMPLE


def prepare_multi_resolution_info(
    info_type: "str | None",
    batch_size: int,
    image_size: "Sequence[int]",
    num_frames: int,
    fps: float,
    device: "torch.device | str" = "cpu",
    dtype: torch.dtype = torch.float32,
) -> "dict[str, torch.Tensor]":
    """The size conditioning a model takes: PixArtMS `hw`/`ar`; STDiT2/OpenSora height...fps."""
    height, width = image_size

    def batch(value: float) -> torch.Tensor:
        return torch.tensor([value], device=device, dtype=dtype).repeat(batch_size)

    if info_type is None:
        return {}
    if info_type == "PixArtMS":
        hw = torch.tensor([list(image_size)], device=device, dtype=dtype).repeat(batch_size, 1)
        ar = torch.tensor([[height / width]], device=device, dtype=dtype).repeat(batch_size, 1)
        return {"ar": ar, "hw": hw}
    if info_type in ("STDiT2", "OpenSora"):
        return {
            "height": batch(height),
            "width": batch(width),
            "num_frames": batch(num_frames),
            "ar": batch(height / width),
            "fps": batch(fps if num_frames > 1 else IMG_FPS),
        }
    raise ConfigError(
        f"multi_resolution {info_type!r} is not known; choose None, 'PixArtMS', 'STDiT2' or 'OpenSora'"
    )


def max_hxw_size(
    sizes: "Sequence[tuple[int, int]]",
    max_hxw: int = DEFAULT_MAX_HXW,
    stride: int = PLAN_SPATIAL_STRIDE,
) -> "tuple[int, int]":
    """Open-Sora Plan's size for conditioning images of any size: min sides, cap, stride crop.

    Takes the smallest height and smallest width over `sizes`, scales them down by
    sqrt(max_hxw / (h*w)) when the area exceeds `max_hxw` (truncating), then crops to
    multiples of `stride`.
    """
    low, high = MAX_HXW_RANGE
    if not isinstance(max_hxw, int) or not low <= max_hxw <= high:
        raise ConfigError(f"max_hxw {max_hxw!r} must be an integer in [{low}, {high}]")
    if not sizes:
        raise VideoShapeError("max_hxw_size needs at least one (height, width)")
    height = min(size[0] for size in sizes)
    width = min(size[1] for size in sizes)
    if height * width > max_hxw:
        scale = math.sqrt(max_hxw / (height * width))
        height, width = int(height * scale), int(width * scale)
    height, width = height // stride * stride, width // stride * stride
    if height == 0 or width == 0:
        raise VideoShapeError(
            f"conditioning images of {min(s[0] for s in sizes)}x{min(s[1] for s in sizes)} "
            f"are smaller than the {stride}-pixel stride"
        )
    return height, width
