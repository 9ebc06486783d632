"""The class-label node: a class id for a class-conditional DiT / Latte -> conditioning.

The class-conditional models (DiT on ImageNet, Latte on UCF101) take no text: the prompt
is a class id, as in Open-Sora's `text_encoder = dict(type="classes")` configs. The
allowed ids depend on the loaded model (ImageNet 0-999, UCF101 0-100), so the widget's
static range is the largest release's and the model's own count is checked on execution.
"""

from sora_core.errors import PromptError
from sora_core.text import ClassEncoder, PromptOptions, prepare_prompts

from .runtime import intermediate_device
from .spec import CONDITIONING, INT, MODEL, Input, NodeSpec, Output

# DiT-XL/2's ImageNet: the most classes of any released class-conditional model.
MAX_CLASSES = 1000


def encode_class_label(model, class_label: int) -> tuple:
    """One class id of `model` -> the PromptEncoding the samplers consume (null class for CFG)."""
    from sora_core.pipeline import encode_prompts

    classes = getattr(model.model, "num_classes", None)
    kind = type(model.model).__name__
    if classes is None:
        raise PromptError(
            f"model: {model.name!r} is a {kind}, conditioned on text, not on class labels; "
            "encode a prompt with Open-Sora Text Encode instead"
        )
    if not 0 <= class_label < classes:
        raise PromptError(
            f"class_label: {class_label} is out of range for {model.name!r} ({kind} trained on "
            f"{classes} classes): allowed 0 to {classes - 1}"
        )
    prepared = prepare_prompts([str(class_label)], PromptOptions(release=model.release))
    encoder = ClassEncoder(classes, device=intermediate_device())
    return (encode_prompts(encoder, prepared, device=intermediate_device()),)


CLASS_LABEL = NodeSpec(
    node_id="OpenSoraClassLabel",
    display_name="Open-Sora Class Label",
    category="Open-Sora/conditioning",
    description="The condition of a class-conditional transformer (DiT on ImageNet, Latte on "
    "UCF101): a class id instead of a prompt. Classifier-free guidance uses the model's "
    "null class. For PixArt and STDiT use Open-Sora Text Encode.",
    inputs=(
        Input(
            "model",
            MODEL,
            "The class-conditional transformer; it sets how many classes there are.",
        ),
        Input(
            "class_label",
            INT,
            "Class id: 0 to 999 for ImageNet DiT (e.g. 207 golden retriever, 388 giant panda), "
            "0 to 100 for UCF101 Latte; checked against the model's class count.",
            default=0,
            min=0,
            max=MAX_CLASSES - 1,
            step=1,
        ),
    ),
    outputs=(Output(CONDITIONING, "conditioning", "The class id and the null class for CFG."),),
    execute=encode_class_label,
)

SPECS = (CLASS_LABEL,)
