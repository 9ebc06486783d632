"""The mask-strategy grammar: which reference frames are written into which latent frames.

A strategy is `;`-separated groups of up to six numbers,
`loop, reference, reference_start, target_start, length, edit_ratio`, missing trailing
numbers taking the defaults `0,0,0,0,1,0` (so `"0"` puts the first frame of the first
reference at the first latent frame, kept exactly). Positions and lengths count latent
frames; negative starts count from the end. `ConditionFrames` is the typed form of one group.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import MaskStrategyError

GROUP_SEPARATOR = ";"
NUMBER_SEPARATOR = ","
# Far beyond any real video (a latent of 2**20 frames); bigger values are typos or attacks,
# and would only fail later inside index arithmetic.
MAX_POSITION = 1 << 20


@dataclass(frozen=True)
class ConditionFrames:
    """One group: copy `length` latent frames of a reference into the generated latent."""

    loop_index: int = 0
    reference_index: int = 0
    reference_start: int = 0
    target_start: int = 0
    length: int = 1
    edit_ratio: float = 0.0

    def __post_init__(self) -> None:
        for field in FIELDS[:5]:
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise MaskStrategyError(
                    f"condition {self}: {field.name} = {value!r}; allowed: {field.meaning}"
                )
            if abs(value) > MAX_POSITION:
                raise MaskStrategyError(
                    f"{field.name} = {value} is out of range: at most {MAX_POSITION} "
                    f"in size ({field.meaning})"
                )
        if self.length < 1:
            raise MaskStrategyError(
                f"condition {self}: length = {self.length} must be at least 1 latent frame"
            )
        ratio = self.edit_ratio
        if (
            isinstance(ratio, bool)
            or not isinstance(ratio, (int, float))
            or not 0.0 <= ratio <= 1.0
        ):
            raise MaskStrategyError(
                f"condition {self}: edit_ratio = {ratio!r} must be a number in [0, 1] "
                "(0 keeps the reference exactly, 1 ignores it)"
            )
        # Frozen: the float form is what the reference prints ("0.0") and writes into masks.
        object.__setattr__(self, "edit_ratio", float(ratio))


@dataclass(frozen=True)
class _Field:
    name: str
    meaning: str


FIELDS = (
    _Field("loop_index", "an integer >= 0, the long-video loop it applies to (0 = the first)"),
    _Field("reference_index", "an integer >= 0, which entry of the prompt's reference_path"),
    _Field(
        "reference_start", "an integer, the first reference latent frame (< 0 counts from its end)"
    ),
    _Field(
        "target_start", "an integer, the first generated latent frame (< 0 counts from the end)"
    ),
    _Field("length", "an integer >= 1, the number of latent frames"),
    _Field("edit_ratio", "a number in [0, 1]: 0 keeps the reference, 1 ignores it"),
)
# What callers may pass wherever a strategy is expected.
MaskStrategy = str | Sequence[ConditionFrames] | None


def _where(text: str, strategy: str, position: int) -> str:
    """The error prefix naming the group; long strategies are shortened (messages stay small)."""
    whole = strategy or text
    shown = repr(whole) if len(whole) <= 80 else f"{whole[:60]!r}... ({len(whole)} characters)"
    group = repr(text) if len(text) <= 80 else f"{text[:60]!r}..."
    return f"mask strategy {shown}, group {position} {group}"


def parse_group(text: str, strategy: str = "", position: int = 0) -> ConditionFrames:
    """One `a,b,c,d,e,f` group -> `ConditionFrames` (missing trailing numbers = defaults)."""
    numbers = text.split(NUMBER_SEPARATOR, len(FIELDS))
    if len(numbers) > len(FIELDS):
        raise MaskStrategyError(
            f"{_where(text, strategy, position)}: has more than {len(FIELDS)} numbers; "
            f"a group takes 1 to {len(FIELDS)}: " + ", ".join(field.name for field in FIELDS)
        )
    values: list = []
    for field, number in zip(FIELDS, numbers, strict=False):
        parse = float if field.name == "edit_ratio" else int
        try:
            values.append(parse(number))
        except ValueError:
            kind = "a number" if parse is float else "an integer"
            shown = number.strip()
            shown = repr(shown) if len(shown) <= 40 else f"{shown[:30]!r}... ({len(shown)} chars)"
            raise MaskStrategyError(
                f"{_where(text, strategy, position)}: {field.name} = {shown} is not {kind}; "
                f"allowed: {field.meaning}"
            ) from None
    try:
        return ConditionFrames(*values)
    except MaskStrategyError as error:
        raise MaskStrategyError(f"{_where(text, strategy, position)}: {error}") from None


def parse_mask_strategy(strategy: "str | None") -> "list[ConditionFrames]":
    """`"0;0,1,0,-1,1"` -> one `ConditionFrames` per group; `""` and None -> []."""
    if strategy is None or strategy == "":
        return []
    return [
        parse_group(group, strategy, position)
        for position, group in enumerate(strategy.split(GROUP_SEPARATOR))
    ]


def as_condition_frames(strategy: MaskStrategy) -> "list[ConditionFrames]":
    """A strategy string, a list of records, or None -> a list of records."""
    if strategy is None or isinstance(strategy, str):
        return parse_mask_strategy(strategy)
    return list(strategy)


def format_group(condition: ConditionFrames, compact: bool = True) -> str:
    """Inverse of `parse_group`: all six numbers, or `compact` as the docs write them.

    Compact: the loop index alone when the rest is default ("0"), else through the length,
    and the edit ratio only when it is not 0 ("0,1,0,-1,1", "0,0,0,0,32,0.4").
    """
    values = [getattr(condition, field.name) for field in FIELDS]
    if not compact:
        return NUMBER_SEPARATOR.join(str(value) for value in values)
    if condition == ConditionFrames(loop_index=condition.loop_index):
        return str(condition.loop_index)
    edit = condition.edit_ratio
    if edit == 0.0:
        values.pop()
    elif edit.is_integer():
        values[-1] = int(edit)  # "1" rather than "1.0"
    return NUMBER_SEPARATOR.join(str(value) for value in values)


def format_mask_strategy(conditions: "Sequence[ConditionFrames]", compact: bool = True) -> str:
    """Inverse of `parse_mask_strategy`."""
    return GROUP_SEPARATOR.join(format_group(condition, compact) for condition in conditions)


def append_group(strategy: MaskStrategy, condition: ConditionFrames, compact: bool) -> MaskStrategy:
    """Add one group to a strategy, keeping its form (a string stays a string, verbatim)."""
    if strategy is None or isinstance(strategy, str):
        group = format_group(condition, compact)
        return f"{strategy}{GROUP_SEPARATOR}{group}" if strategy else group
    return [*strategy, condition]
