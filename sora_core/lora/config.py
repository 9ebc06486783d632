"""The `lora = dict(rank=..., alpha=..., dropout=..., targets=[...])` config key, checked."""

from dataclasses import dataclass

from ..errors import ConfigError

# Module families an adapter may target; `targets.py` maps each to Linear layers per model.
TARGET_FAMILIES = ("attn", "spatial_attn", "temporal_attn", "cross_attn", "mlp")
DEFAULT_TARGETS = ("attn", "cross_attn", "mlp")


@dataclass(frozen=True)
class LoRAConfig:
    """Rank, alpha (the update is scaled by alpha / rank), input dropout and target families."""

    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple = DEFAULT_TARGETS

    def __post_init__(self):
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"lora.rank: {self.rank!r}; expected a whole number >= 1")
        if not isinstance(self.alpha, (int, float)) or self.alpha <= 0:
            raise ConfigError(f"lora.alpha: {self.alpha!r}; expected a number > 0")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout: {self.dropout!r}; expected a number in [0, 1)")
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        unknown = [name for name in targets if name not in TARGET_FAMILIES]
        if unknown or not targets:
            raise ConfigError(
                f"lora.targets: {list(targets)!r}; expected a non-empty list of "
                f"{list(TARGET_FAMILIES)}"
            )
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "dropout", float(self.dropout))

    @property
    def scaling(self) -> float:
        """The factor on `B @ A` (PEFT's `lora_alpha / r`)."""
        return self.alpha / self.rank

    @classmethod
    def from_dict(cls, values: "dict | LoRAConfig") -> "LoRAConfig":
        """From the config file's dict; `alpha` defaults to the rank (scaling 1)."""
        if isinstance(values, LoRAConfig):
            return values
        if not isinstance(values, dict):
            raise ConfigError(
                f"lora: {values!r}; expected dict(rank=..., alpha=..., dropout=..., targets=[...])"
            )
        unknown = sorted(set(values) - {"rank", "alpha", "dropout", "targets"})
        if unknown:
            raise ConfigError(
                f"lora: unknown keys {unknown}; accepted keys are alpha, dropout, rank, targets"
            )
        rank = values.get("rank", cls.rank)
        return cls(
            rank=rank,
            alpha=values.get("alpha", rank),
            dropout=values.get("dropout", 0.0),
            targets=values.get("targets", DEFAULT_TARGETS),
        )
