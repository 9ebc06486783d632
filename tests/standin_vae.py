"""The stand-in VAE of `long_video_loop.json` (`stand_in_vae`), plus a decoder it inverts.

encode: (B,3,T,H,W) -> (B,4,Tl,H//8,W//8) with value[b,c,t] = mean over rgb,h,w of frame
idx_t, plus c, where idx = round(linspace(0, T-1, Tl)) and Tl is Open-Sora 1.2's latent
length. decode writes latent channel 0 into those frames, so encode(decode(z))[:, c] = z[:, 0] + c.
"""

import torch

from sora_core.geometry import latent_size


def _frame_indices(num_frames: int, latent_frames: int) -> torch.Tensor:
    return torch.linspace(0, num_frames - 1, latent_frames).round().long()


class StandInVAE:
    """Deterministic, shape-faithful stand-in for Open-Sora 1.2's VAE; records encode inputs."""

    channels = 4

    def __init__(self):
        self.encoded_shapes: list[list[int]] = []

    def get_latent_size(self, input_size):
        return latent_size(input_size, "OpenSoraVAE_V1_2")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.encoded_shapes.append(list(x.shape))
        batch, _, frames, height, width = x.shape
        latent_frames, latent_height, latent_width = self.get_latent_size([frames, height, width])
        means = x[:, :, _frame_indices(frames, latent_frames)].mean(dim=(1, 3, 4))  # (B, Tl)
        offsets = torch.arange(self.channels, dtype=x.dtype)[None, :, None]
        values = means[:, None, :] + offsets  # (B, C, Tl)
        return values[..., None, None].expand(-1, -1, -1, latent_height, latent_width).clone()

    def decode(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        batch, _, latent_frames, latent_height, latent_width = z.shape
        video = torch.zeros(batch, 3, num_frames, latent_height * 8, latent_width * 8)
        video += torch.arange(num_frames, dtype=z.dtype)[None, None, :, None, None] * 100
        frames = _frame_indices(num_frames, latent_frames)
        video[:, :, frames] = z[:, 0, :, :1, :1][:, None].expand(-1, 3, -1, *video.shape[-2:])
        return video
