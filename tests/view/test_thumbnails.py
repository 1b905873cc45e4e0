"""Images of known inputs: ImageArray (lazy uint8 conversion), sprite atlases and PNG bytes."""

import struct
import zlib

import numpy as np
import pytest

from dvi_widget.contract import Visualization
from dvi_widget.data.images import ImageArray, image_layout
from dvi_widget.view.thumbnails import MAX_THUMBNAILS, encode_png, sprite


def decode_png(data):
    """A minimal reader of 8-bit PNGs with filter 0 per row (what encode_png writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, color = header[:4]
    assert depth == 8
    channels = {0: 1, 2: 3, 6: 4}[color]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    assert (rows[:, 0] == 0).all()
    img = rows[:, 1:].reshape(h, w, channels)
    return img[..., 0] if channels == 1 else img


@pytest.fixture
def gray():
    rng = np.random.default_rng(1)
    return rng.random((10, 1, 4, 5), dtype=np.float32)     # (N, C=1, H, W) in [0, 1]


def test_image_array_converts_only_the_rows_asked_for(gray):
    images = ImageArray(gray[:6], gray[6:])                 # train and test parts
    assert images.shape == (10, 4, 5) and images.dtype == np.uint8 and len(images) == 10
    assert images.value_range == (0.0, 1.0) and images.layout == "CHW"
    want = np.rint(gray[:, 0] * 255).astype(np.uint8)
    np.testing.assert_array_equal(images[[7, 2, 9]], want[[7, 2, 9]])   # across both parts
    np.testing.assert_array_equal(images[3], want[3])
    np.testing.assert_array_equal(images[-1], want[9])
    np.testing.assert_array_equal(images[2:5], want[2:5])
    with pytest.raises(IndexError):
        images[[10]]
    with pytest.raises(TypeError, match="flatnonzero"):
        images[np.ones(10, bool)]


def test_layouts_and_value_ranges():
    rgb = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2) * 10   # 0..230
    im = ImageArray(rgb)
    assert im.shape == (2, 2, 2, 3) and im.value_range == (0.0, 255.0)
    np.testing.assert_array_equal(im[1], np.moveaxis(rgb[1], 0, -1).astype(np.uint8))
    hwc = np.moveaxis(rgb, 1, -1)
    np.testing.assert_array_equal(ImageArray(hwc)[[0, 1]], im[[0, 1]])
    std = np.array([[[-1.0, 1.0], [0.0, 3.0]]], np.float32)                    # standardised
    np.testing.assert_array_equal(ImageArray(std)[0], [[0, 128], [64, 255]])
    np.testing.assert_array_equal(ImageArray(std, value_range=(0, 1))[0], [[0, 255], [0, 255]])
    assert image_layout((28, 28)) == "HW" and image_layout((784,)) is None
    assert image_layout((2, 28, 28)) is None
    with pytest.raises(ValueError, match="not images"):
        ImageArray(np.zeros((3, 64), np.float32))


def test_sprite_tiles_are_the_samples_images(gray):
    want = np.rint(gray[:, 0] * 255).astype(np.uint8)
    vis = Visualization.from_arrays(coords=np.zeros((10, 2)) + np.arange(10)[:, None],
                                    labels=np.zeros(10, int), images=ImageArray(gray))
    s = sprite(vis, [5, 0, 7, 9, 1])
    assert s.columns == 3 and s.tile == (4, 5) and s.atlas.shape == (8, 15)
    for i, sample in enumerate([5, 0, 7, 9, 1]):
        np.testing.assert_array_equal(s.tile_image(i), want[sample])
    assert (s.tile_image(5) == 0).all()                   # the unused last tile is black
    np.testing.assert_array_equal(decode_png(s.png), s.atlas)
    rgba = s.rgba()
    assert rgba.shape == (8, 15, 4) and (rgba[..., 3] == 255).all()
    np.testing.assert_array_equal(rgba[..., 1], s.atlas)
    one = sprite(vis.images, [4], columns=1)
    np.testing.assert_array_equal(one.atlas, want[4])


def test_png_of_colour_images_round_trips():
    rng = np.random.default_rng(0)
    for shape in ((3, 7, 3), (5, 2, 4), (6, 9)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(decode_png(encode_png(img)), img)


def test_sprite_rejects_bad_requests(gray):
    vis = Visualization.from_arrays(coords=np.zeros((10, 2)), labels=np.zeros(10, int))
    with pytest.raises(ValueError, match="no images"):
        sprite(vis, [0])
    images = ImageArray(gray)
    with pytest.raises(ValueError, match="empty"):
        sprite(images, [])
    with pytest.raises(IndexError):
        sprite(images, [10])
    with pytest.raises(ValueError, match="at most"):
        sprite(images, np.zeros(MAX_THUMBNAILS + 1, int))
    with pytest.raises(ValueError, match="images must be uint8"):
        Visualization(**{**{f: getattr(vis, f) for f in (
            "epochs", "coords", "extent", "landscape", "labels", "predictions", "confidence",
            "split", "class_names", "palette")}, "images": np.zeros((9, 4, 5), np.uint8)})
