"""Reading a SentencePiece `spiece.model` without protobuf or sentencepiece.

The file is a protobuf `ModelProto`; T5 tokenisation needs only its pieces with their
scores and types, and the normaliser's precompiled character map. Decoding those few
fields from the wire format directly means a ComfyUI install without protobuf can still
read the DeepFloyd tokenizer.
"""

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError

# Field numbers of sentencepiece_model.proto.
_MODEL_PIECES, _MODEL_NORMALIZER_SPEC = 1, 3
_PIECE_TEXT, _PIECE_SCORE, _PIECE_TYPE = 1, 2, 3
_NORMALIZER_CHARSMAP = 2
PIECE_UNKNOWN = 2
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class SentencePieceModel:
    """The pieces (text, score, type) of a SentencePiece model and its normaliser map."""

    pieces: "list[tuple[str, float, int]]"
    precompiled_charsmap: bytes

    @property
    def unk_id(self) -> int:
        """Id of the piece of type UNKNOWN."""
        return next(i for i, (_, _, kind) in enumerate(self.pieces) if kind == PIECE_UNKNOWN)


def _varint(data: bytes, position: int) -> "tuple[int, int]":
    value, shift = 0, 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(data: bytes):
    """Yield (field number, wire type, value) of one protobuf message."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, position = _varint(data, position)
        elif wire == _FIXED64:
            value, position = data[position : position + 8], position + 8
        elif wire == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire == _FIXED32:
            value, position = data[position : position + 4], position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if position > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def _piece(message: bytes) -> "tuple[str, float, int]":
    text, score, kind = "", 0.0, 1  # proto defaults: score 0, type NORMAL
    for number, wire, value in _fields(message):
        if number == _PIECE_TEXT and wire == _LENGTH_DELIMITED:
            text = value.decode("utf-8")
        elif number == _PIECE_SCORE and wire == _FIXED32:
            score = struct.unpack("<f", value)[0]
        elif number == _PIECE_TYPE and wire == _VARINT:
            kind = value
    return text, score, kind


def read_sentencepiece_model(path: "str | Path") -> SentencePieceModel:
    """Parse `spiece.model`; a file that is not a SentencePiece model raises CheckpointError."""
    data = Path(path).read_bytes()
    pieces: list[tuple[str, float, int]] = []
    charsmap = b""
    try:
        for number, wire, value in _fields(data):
            if number == _MODEL_PIECES and wire == _LENGTH_DELIMITED:
                pieces.append(_piece(value))
            elif number == _MODEL_NORMALIZER_SPEC and wire == _LENGTH_DELIMITED:
                for inner, inner_wire, inner_value in _fields(value):
                    if inner == _NORMALIZER_CHARSMAP and inner_wire == _LENGTH_DELIMITED:
                        charsmap = bytes(inner_value)
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{str(path)!r} is not a SentencePiece model: {error}") from error
    if not pieces or not any(kind == PIECE_UNKNOWN for _, _, kind in pieces):
        raise CheckpointError(
            f"{str(path)!r} is not a SentencePiece model (no pieces or no <unk> piece)"
        )
    return SentencePieceModel(pieces, charsmap)
