"""`{"b64": "..."}` image instances: base64 PNG/JPEG to the model's raw input values.

The image is decoded with Pillow, converted to the model's channels (1 → grayscale "L",
3 → "RGB", 4 → "RGBA"; transparency is dropped, not composited), resized to the input's
height × width (Pillow's antialiased bilinear filter), and its 0-255 intensities mapped
linearly onto the raw range the training split had (`input.raw_range` of the contract):
0 → raw_range.min, 255 → raw_range.max. Intensities are not inverted: for the digits
model, whose training images are light ink (16) on a dark background (0), send light
strokes on black. When the contract records no range, intensities stay 0-255.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np
from PIL import Image, UnidentifiedImageError

from protogen.contract.serving_metadata_pb2 import InputSpec
from serving.gateway.errors import BadRequest

FORMATS = ("PNG", "JPEG")
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_DATA_URI = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)


def decode_b64(text: object, spec: InputSpec, field: str, max_pixels: int) -> np.ndarray:
    """A base64 PNG/JPEG as a float64 array of shape spec.shape in the model's raw range."""
    if not isinstance(text, str):
        raise BadRequest(f"{field}: expected a base64 string")
    data = _b64decode(text, field)
    height, width, channels = (int(d) for d in spec.shape)
    mode = _MODES.get(channels)
    if mode is None:
        raise BadRequest(f"{field}: this model's {channels}-channel input cannot be sent as an image")
    image = _open(data, field, max_pixels)
    try:
        pixels = _pixels(image, mode, width, height)
    finally:
        image.close()
    low, high = spec.raw_range.min, spec.raw_range.max
    if high > low:
        return low + pixels * ((high - low) / 255.0)
    return pixels


def _pixels(image: Image.Image, mode: str, width: int, height: int) -> np.ndarray:
    """0-255 intensities of shape (height, width, channels) as float64."""
    if image.mode.startswith("I"):
        # 16-bit (and 32-bit integer) grayscale: scale to 0-255 instead of clipping.
        deep = np.asarray(image, dtype=np.float32) * np.float32(255.0 / 65535.0)
        gray = Image.fromarray(np.clip(deep, 0, 255))
        if gray.size != (width, height):
            gray = gray.resize((width, height), Image.Resampling.BILINEAR)
        plane = np.asarray(gray, dtype=np.float64)
        planes = [plane] * min(len(mode), 3) + ([np.full_like(plane, 255.0)] if mode == "RGBA" else [])
        return np.stack(planes, axis=-1)
    converted = image.convert(mode)
    if converted.size != (width, height):
        converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(converted, dtype=np.float64).reshape(height, width, len(mode))


def _b64decode(text: str, field: str) -> bytes:
    text = _DATA_URI.sub("", text, count=1)
    compact = "".join(text.split())
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field}: not valid base64") from None
    if not data:
        raise BadRequest(f"{field}: empty image")
    return data


def _open(data: bytes, field: str, max_pixels: int) -> Image.Image:
    """Open and fully decode the image, refusing anything but a sane PNG or JPEG."""
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            image.close()
            raise BadRequest(
                f"{field}: a {width}x{height} image exceeds the limit of {max_pixels} pixels"
            )
        image.load()
        return image
    except BadRequest:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise BadRequest(f"{field}: not a PNG or JPEG image") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError):
        raise BadRequest(f"{field}: the image is corrupt or truncated") from None
