"""The class-label "text encoder" of Open-Sora's class-conditional (DiT / Latte) configs."""

import torch

from ..errors import PromptError


class ClassEncoder:
    """Labels ("0", "7", ...) to class ids; the null class is `num_classes`."""

    output_dim = None

    def __init__(
        self,
        num_classes: int,
        model_max_length: "int | None" = None,
        device: "str | torch.device" = "cpu",
    ):
        self.num_classes = int(num_classes)
        self.model_max_length = model_max_length
        self.device = torch.device(device)
        self.y_embedder = None

    def encode(self, labels: "list[str]") -> "dict[str, torch.Tensor]":
        """{"y": int64 [B]} of the class ids (no mask)."""
        ids = []
        for label in labels:
            try:
                ids.append(int(label))
            except (TypeError, ValueError) as error:
                raise PromptError(
                    f"class label {label!r} is not an integer in [0, {self.num_classes})"
                ) from error
            if not 0 <= ids[-1] < self.num_classes:
                raise PromptError(
                    f"class label {label!r} is out of range: expected an integer in "
                    f"[0, {self.num_classes})"
                )
        return {"y": torch.tensor(ids, dtype=torch.int64, device=self.device)}

    def null(self, n: int) -> torch.Tensor:
        """int64 [n] filled with the unconditional class id `num_classes`."""
        return torch.full((n,), self.num_classes, dtype=torch.int64, device=self.device)
