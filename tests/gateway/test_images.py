"""{"b64": ...} instances: PNG/JPEG decoding, channels, resizing, and the raw range."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from serving.gateway.errors import BadRequest
from serving.gateway.images import decode_b64
from tests.gateway import support

SPEC = support.image_metadata().input  # 8×8×1, raw range 0..16


def encode(image: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def rgb_spec():
    spec = type(SPEC)()
    spec.CopyFrom(SPEC)
    spec.shape[:] = [4, 4, 3]
    return spec


def decode(text, spec=SPEC, max_pixels=10_000):
    return decode_b64(text, spec, "instances[0].b64", max_pixels)


def test_an_8x8_grayscale_png_maps_0_255_onto_the_training_range():
    gray = np.array([[0, 255, 51, 102, 153, 204, 0, 255]] * 8, dtype=np.uint8)
    out = decode(encode(Image.fromarray(gray)))
    assert out.shape == (8, 8, 1)
    np.testing.assert_allclose(out[0, :, 0], [0, 16, 3.2, 6.4, 9.6, 12.8, 0, 16])


def test_a_larger_rgb_jpeg_is_converted_to_gray_and_resized():
    image = Image.new("RGB", (64, 48), (255, 255, 255))
    out = decode(encode(image, "JPEG"))
    assert out.shape == (8, 8, 1)
    np.testing.assert_allclose(out, 16.0, atol=0.2)


def test_a_gray_image_feeds_a_three_channel_model():
    out = decode(encode(Image.new("L", (4, 4), 255)), rgb_spec())
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out, 16.0)


def test_sixteen_bit_png_is_scaled_not_clipped():
    deep = np.full((8, 8), 32768, dtype=np.uint16)
    out = decode(encode(Image.fromarray(deep)))
    np.testing.assert_allclose(out, 32768 / 65535 * 16, atol=0.1)


def test_data_uri_prefix_and_line_breaks_are_accepted():
    text = encode(Image.new("L", (8, 8), 0))
    wrapped = "data:image/png;base64," + "\n".join(text[i:i + 10] for i in range(0, len(text), 10))
    np.testing.assert_array_equal(decode(wrapped), np.zeros((8, 8, 1)))


def test_without_a_recorded_range_intensities_stay_0_255():
    spec = type(SPEC)()
    spec.CopyFrom(SPEC)
    spec.ClearField("raw_range")
    np.testing.assert_allclose(decode(encode(Image.new("L", (8, 8), 200)), spec), 200)


def gif() -> str:
    return encode(Image.new("L", (8, 8)), "GIF")


@pytest.mark.parametrize(
    "text, message",
    [
        ("not base64!", "instances[0].b64: not valid base64"),
        ("QUJ", "instances[0].b64: not valid base64"),
        ("", "instances[0].b64: empty image"),
        (base64.b64encode(b"hello, not an image").decode(), "instances[0].b64: not a PNG or JPEG image"),
        ("GIF", "instances[0].b64: not a PNG or JPEG image"),
        ("TRUNCATED", "instances[0].b64: the image is corrupt or truncated"),
        ("HUGE", "instances[0].b64: a 200x200 image exceeds the limit of 10000 pixels"),
    ],
)
def test_bad_images_are_400(text, message):
    if text == "GIF":
        text = gif()
    elif text == "TRUNCATED":
        full = base64.b64decode(encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))))
        text = base64.b64encode(full[: len(full) // 2]).decode()
    elif text == "HUGE":
        text = encode(Image.new("L", (200, 200)))
    with pytest.raises(BadRequest) as info:
        decode(text)
    assert info.value.message == message
