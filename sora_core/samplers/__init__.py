"""Samplers (IDDPM, DPM-Solver, rectified flow) and training losses, numerically equal to
Open-Sora's, over a model callable, encoded text and an injected noise source."""

from .builder import SCHEDULER_TYPES, build_scheduler, config_keys
from .dpm_solver import DPMSolver
from .guidance import combine_guidance, guided_output
from .iddpm import IDDPM, DiffusionSchedule, space_timesteps
from .interface import (
    Sampler,
    SamplerStep,
    SamplingRun,
    StepCallback,
    TextConditioning,
)
from .noise import GeneratorNoise, NoiseSource, as_noise_source
from .rflow import RectifiedFlow, RectifiedFlowHeun, add_noise, timestep_transform
from .timestep_sampling import TimestepSampler
from .training import mean_flat, training_losses

__all__ = [
    "DPMSolver",
    "DiffusionSchedule",
    "GeneratorNoise",
    "IDDPM",
    "NoiseSource",
    "RectifiedFlow",
    "RectifiedFlowHeun",
    "SCHEDULER_TYPES",
    "Sampler",
    "SamplerStep",
    "SamplingRun",
    "StepCallback",
    "TextConditioning",
    "TimestepSampler",
    "add_noise",
    "as_noise_source",
    "build_scheduler",
    "combine_guidance",
    "config_keys",
    "guided_output",
    "mean_flat",
    "space_timesteps",
    "timestep_transform",
    "training_losses",
]
