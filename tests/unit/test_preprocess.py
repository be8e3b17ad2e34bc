"""preprocess: any user image becomes a (28, 28) MNIST-style digit, or a clear ImageError; never anything else."""
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from digitviz.preprocess import (
    BLANK,
    CANVAS_EMPTY,
    MAX_BYTES,
    ImageError,
    mnist_style,
    open_upload,
    prepare_drawing,
    prepare_upload,
    to_grayscale,
)


def bar_image(h=100, w=100, top=10, left=70, bar_h=12, bar_w=4):
    """(h, w) uint8: a white bar_h x bar_w bar on black, off-centre."""
    a = np.zeros((h, w), np.uint8)
    a[top:top + bar_h, left:left + bar_w] = 255
    return a


def seven_image():
    """(80, 60) uint8: a white '7' (a top stroke and a slanted leg) on black, asymmetric in both directions."""
    a = np.zeros((80, 60), np.uint8)
    a[10:18, 10:50] = 255
    for r in range(18, 70):
        c = 50 - (r - 18) * 25 // 52
        a[r, c - 4:c + 4] = 255
    return a


def encode(im, fmt="PNG", **kw):
    """A PIL image (or a uint8 array) as file bytes, the way an upload arrives."""
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def centre_of_mass(img):
    yy, xx = np.indices(img.shape)
    return (img * yy).sum() / img.sum(), (img * xx).sum() / img.sum()


def box(img, level=0.1):
    """(height, width) of the pixels above `level`."""
    rows, cols = np.nonzero(img > level)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def crop(img, level=0.1):
    """The part of img inside the box of pixels above `level`."""
    rows, cols = np.nonzero(img > level)
    return img[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def shifted_corr(a, b):
    """Best correlation of a with b over whole-pixel shifts of at most one: the placement rounds to whole pixels."""
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def check_digit(out):
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)


REFERENCE = mnist_style(bar_image() / 255)


# --- geometry ------------------------------------------------------------------------------------------------------

def test_off_centre_bar_lands_centred_scaled_and_upright():
    out = REFERENCE
    check_digit(out)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    h, w = box(out)
    assert h == 20  # the longer side fills the 20-pixel box
    assert 6 <= w <= 8  # 4 x 12 scaled by 20/12 is 6.7 wide: aspect ratio kept
    assert out[out > 0.5].size >= 20 * 6


def test_light_background_gives_the_same_digit_as_dark():
    inverted = 255 - bar_image()
    np.testing.assert_allclose(mnist_style(inverted / 255), REFERENCE, atol=1e-6)
    _, out = prepare_upload(encode(inverted))
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


def test_photo_with_uneven_light_and_paper_grain_reads_as_the_clean_digit():
    rng = np.random.default_rng(0)
    paper = np.linspace(0.55, 0.95, 100)[None, :] + rng.normal(0, 0.02, (100, 100))  # lit from the right, grainy
    ink = bar_image() > 0
    photo = np.where(ink, 0.15, paper)
    out = mnist_style(np.clip(photo, 0, 1))
    check_digit(out)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    # the lighting tilts the ink's weight a hair, which may move the whole-pixel placement by one: compare crops
    np.testing.assert_allclose(crop(out), crop(REFERENCE), atol=0.05)


def test_a_thin_long_strip_becomes_a_one_pixel_line():
    a = np.zeros((3, 2000), np.uint8)
    a[1, 100:1900] = 255
    _, out = prepare_upload(encode(a))
    check_digit(out)
    assert box(out) == (1, 20)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_a_lopsided_glyph_is_clipped_not_broken():
    a = np.zeros((50, 50), np.float32)
    a[0:40, 0:40] = 0.2  # a faint square with one heavy corner pulls the centre of mass far off the middle
    a[0:4, 0:4] = 1.0
    out = mnist_style(a)
    check_digit(out)


def test_mnist_digits_come_through_nearly_unchanged():
    from digitviz.data import load_digits
    digits = load_digits().valid_x.view(-1, 28, 28).numpy()
    plain, shifted = [], []
    for original in digits[::20]:  # about a hundred threes and sevens
        _, out = prepare_upload(encode(np.round(original * 255).astype(np.uint8)))
        check_digit(out)
        plain.append(np.corrcoef(out.ravel(), original.ravel())[0, 1])
        # MNIST's own centring wobbles by 0.3 px, so rounding ours may move a digit one whole pixel: allow that
        shifted.append(shifted_corr(out, original))
    assert np.median(plain) > 0.99 and np.mean(np.array(plain) > 0.8) > 0.9
    assert min(shifted) > 0.95


# --- bad inputs ------------------------------------------------------------------------------------------------------

def png_claiming(width, height):
    """A tiny valid PNG whose header is patched (CRC included) to claim width x height pixels."""
    data = bytearray(encode(np.zeros((2, 2), np.uint8)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("data, message", [
    (b"hello, this is text and not a picture", "not an image we can read"),
    (b"", "empty"),
    (encode(bar_image())[:60], "damaged or incomplete"),
    (encode(bar_image(), "TIFF"), r"PNG, JPEG, GIF, BMP or WebP"),
    (png_claiming(5000, 5000), "too many pixels"),
    (png_claiming(50000, 50000), "too many pixels"),
    (b"\x89PNG" + bytes(MAX_BYTES), "too large"),
    (encode(np.full((40, 40), 255, np.uint8)), "No digit found"),
    (encode(np.zeros((40, 40), np.uint8)), "No digit found"),
    (encode(np.full((40, 40), 128, np.uint8), "JPEG"), "No digit found"),
    (encode(np.full((1, 1), 255, np.uint8)), "No digit found"),
], ids=["text", "empty", "truncated-png", "tiff", "5000x5000", "50000x50000", "over-max-bytes", "blank-white",
        "blank-black", "uniform-grey-jpeg", "1x1"])
def test_bad_upload_says_why(data, message):
    with pytest.raises(ImageError, match=message):
        prepare_upload(data)


def test_truncated_png_body_is_damaged():
    data = encode(np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8))
    with pytest.raises(ImageError, match="damaged or incomplete"):
        prepare_upload(data[:len(data) // 2])


def test_corrupt_jpeg_is_damaged():
    data = bytearray(encode(seven_image(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 4:sof + 9] = b"\x00" * 5  # the frame header now claims a precision and size of zero
    with pytest.raises(ImageError, match="damaged or incomplete|not an image"):
        prepare_upload(bytes(data))


def test_pillow_warns_about_a_bomb_that_we_refuse_anyway():
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageError, match="too many pixels"):
        prepare_upload(png_claiming(10000, 10000))  # between Pillow's warning and its error


def test_pixel_count_is_refused_from_the_header_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("decoded a file that the header already showed to be too big")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match="too many pixels"):
        open_upload(png_claiming(5000, 4000))


@pytest.mark.parametrize("rgba", [
    np.zeros((200, 200, 4), np.uint8),
    np.full((200, 200, 4), (255, 255, 255, 0), np.uint8),  # white but fully transparent: nothing drawn
    np.full((200, 200, 4), (0, 0, 0, 255), np.uint8),  # an opaque black background with no stroke
    None,
], ids=["zeros", "transparent-white", "opaque-black", "none"])
def test_empty_canvas_asks_for_a_drawing(rgba):
    with pytest.raises(ImageError, match=CANVAS_EMPTY):
        prepare_drawing(rgba)


def test_wrong_canvas_shape_is_an_image_error():
    with pytest.raises(ImageError, match="RGBA"):
        prepare_drawing(np.zeros((10, 10), np.uint8))


# --- inputs we handle ----------------------------------------------------------------------------------------------

def test_canvas_drawing_white_ink_on_transparent():
    rgba = np.zeros((100, 100, 4), np.uint8)
    ink = bar_image() > 0
    rgba[ink] = (255, 255, 255, 255)
    np.testing.assert_allclose(prepare_drawing(rgba), REFERENCE, atol=1e-6)


def test_canvas_antialiased_edges_count_as_partial_ink():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., :3] = 255  # fabric.js leaves the stroke colour under partially transparent edge pixels
    rgba[..., 3] = bar_image()
    rgba[9, 70:74, 3] = 128
    out = prepare_drawing(rgba)
    check_digit(out)
    assert box(out) == (20, 6)  # 13 rows tall now, so 4 * 20 / 13 wide
    top = crop(out)
    assert 0.3 < top[0].mean() < 0.7 and top[2:].min() > 0.9  # the half-transparent row is half ink


def test_canvas_drawn_with_a_see_through_brush():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[bar_image() > 0] = (255, 255, 255, 100)
    np.testing.assert_allclose(prepare_drawing(rgba), REFERENCE, atol=1e-6)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 120), w=st.integers(1, 120), density=st.floats(0, 1))
def test_any_canvas_gives_a_digit_or_asks_for_one(seed, h, w, density):
    rng = np.random.default_rng(seed)
    rgba = np.where(rng.random((h, w, 1)) < density, rng.integers(0, 256, (h, w, 4)), 0).astype(np.uint8)
    try:
        out = prepare_drawing(rgba)
    except ImageError as e:
        assert str(e) == CANVAS_EMPTY
        return
    check_digit(out)


def test_mnist_style_wants_a_2d_array():
    with pytest.raises(ValueError, match="height, width"):
        mnist_style(np.zeros((4, 4, 3)))


def test_transparent_png_with_dark_ink():
    rgba = np.zeros((100, 100, 4), np.uint8)  # transparent black: read naively this is black ink on black
    rgba[bar_image() > 0] = (20, 20, 20, 255)
    _, out = prepare_upload(encode(Image.fromarray(rgba, "RGBA")))
    np.testing.assert_allclose(out, REFERENCE, atol=0.02)


def test_photo_with_transparent_corners_keeps_its_paper_background():
    rgba = np.full((100, 100, 4), 255, np.uint8)  # opaque white paper...
    rgba[bar_image() > 0, :3] = 0  # ...dark ink
    rgba[:8, :8] = 0  # ...and transparent black corners, which must not become ink
    rgba[-8:, -8:] = 0
    _, out = prepare_upload(encode(Image.fromarray(rgba, "RGBA")))
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


def test_la_mode_png_with_transparency():
    la = np.zeros((100, 100, 2), np.uint8)
    la[bar_image() > 0] = (0, 255)
    _, out = prepare_upload(encode(Image.fromarray(la, "LA")))
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


def test_palette_png():
    im = Image.fromarray(255 - bar_image()).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert Image.open(io.BytesIO(encode(im))).mode == "P"
    _, out = prepare_upload(encode(im))
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


def test_palette_png_with_transparent_background():
    im = Image.fromarray(bar_image()).convert("P")
    data = encode(im, transparency=0)  # palette index 0 (black) is transparent
    _, out = prepare_upload(data)
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


def test_animated_gif_uses_its_first_frame():
    frames = [Image.fromarray(bar_image()).convert("P"), Image.fromarray(np.zeros((100, 100), np.uint8)).convert("P")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    _, out = prepare_upload(data)
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)
    blank_first = encode(frames[1], "GIF", save_all=True, append_images=frames[:1], duration=100, loop=0)
    with pytest.raises(ImageError, match="No digit found"):
        prepare_upload(blank_first)


def test_16_bit_png_is_scaled_by_its_range_not_clipped():
    a = np.full((100, 100), 1000, np.uint16)
    a[bar_image() > 0] = 60000
    im = Image.fromarray(a)
    assert Image.open(io.BytesIO(encode(im))).mode == "I;16"
    gray = to_grayscale(open_upload(encode(im)))
    assert gray.max() == pytest.approx(60000 / 65535) and gray.min() == pytest.approx(1000 / 65535)
    _, out = prepare_upload(encode(im))
    np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


def test_cmyk_jpeg():
    im = Image.fromarray(255 - bar_image()).convert("CMYK")
    data = encode(im, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    _, out = prepare_upload(data)
    assert box(out, 0.5) == box(REFERENCE, 0.5)
    assert np.corrcoef(out.ravel(), REFERENCE.ravel())[0, 1] > 0.95


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_exif_orientation_is_applied(fmt):
    stored = Image.fromarray(seven_image())
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write it
    kw = {"quality": 95} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
    _, out = prepare_upload(encode(stored, fmt, exif=exif.tobytes(), **kw))
    _, upright = prepare_upload(encode(stored.transpose(Image.Transpose.ROTATE_270), fmt, **kw))
    _, unrotated = prepare_upload(encode(stored, fmt, **kw))
    assert np.abs(out - upright).mean() < 0.02
    assert np.abs(out - unrotated).mean() > 0.1


def test_bmp_and_webp_uploads():
    for fmt, kw in (("BMP", {}), ("WEBP", {"lossless": True})):
        _, out = prepare_upload(encode(Image.fromarray(bar_image()).convert("RGB"), fmt, **kw))
        np.testing.assert_allclose(out, REFERENCE, atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "I;16", "CMYK"])
def test_big_uploads_are_averaged_down_to_the_same_digit(mode):
    big = np.kron(bar_image(), np.ones((12, 12), np.uint8))  # 1200 x 1200, the bar now 48 x 144
    if mode == "RGBA":
        rgba = np.zeros(big.shape + (4,), np.uint8)
        rgba[big > 0] = (0, 0, 0, 255)  # dark ink on transparent
        im = Image.fromarray(rgba, "RGBA")
    elif mode == "I;16":
        im = Image.fromarray(big.astype(np.uint16) * 257)
    else:
        im = Image.fromarray(big).convert(mode)
    _, out = prepare_upload(encode(im, "JPEG" if mode == "CMYK" else "PNG"))
    check_digit(out)
    assert box(out, 0.5) == box(REFERENCE, 0.5)
    assert shifted_corr(out, REFERENCE) > 0.97


def test_upload_returns_a_displayable_original():
    shown, _ = prepare_upload(encode(Image.fromarray(bar_image(1000, 800, 100, 100, 300, 100)).convert("RGB")))
    assert isinstance(shown, Image.Image) and max(shown.size) <= 512 and shown.mode == "RGB"
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[bar_image() > 0] = (0, 0, 0, 255)
    shown, _ = prepare_upload(encode(Image.fromarray(rgba, "RGBA")))
    assert np.asarray(shown)[0, 0] == 255  # shown on the white it was read against, not as black on black


@pytest.mark.parametrize("mode, values, expected", [
    ("1", np.array([[0, 1]], bool), [0, 1]),
    ("I", np.array([[0, 255]], np.int32), [0, 1]),
    ("I", np.array([[0, 65535]], np.int32), [0, 1]),
    ("I", np.array([[-5, 15]], np.int32), [0, 1]),
    ("F", np.array([[0.25, 0.75]], np.float32), [0.25, 0.75]),
    ("F", np.array([[np.nan, 300.0]], np.float32), [0, 1]),
    ("F", np.array([[-1.0, 1.0]], np.float32), [0, 1]),
    ("F", np.array([[5.0, 5.0]], np.float32), [0, 0]),
])
def test_grayscale_of_unusual_modes(mode, values, expected):
    im = Image.fromarray(values) if mode != "1" else Image.fromarray(values).convert("1")
    assert im.mode == mode
    np.testing.assert_allclose(to_grayscale(im)[0], expected, atol=1e-6)


# --- property: any decodable image gives a digit or an ImageError ---------------------------------------------------

MODES = ["L", "RGB", "RGBA", "P", "I;16", "1", "CMYK"]
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP"]


def random_image(seed, h, w, mode, content):
    """A PIL image of the given mode whose pixels are noise, a few specks, a bar, or nothing."""
    rng = np.random.default_rng(seed)
    if content == "noise":
        a = rng.integers(0, 256, (h, w), dtype=np.uint8)
    elif content == "sparse":
        a = np.zeros((h, w), np.uint8)
        a[rng.integers(0, h, 5), rng.integers(0, w, 5)] = 255
    elif content == "bar":
        a = np.full((h, w), 230, np.uint8)
        a[h // 4:h // 4 + max(1, h // 3), w // 3:w // 3 + max(1, w // 8)] = 10
    else:
        a = np.full((h, w), int(rng.integers(0, 256)), np.uint8)
    if mode == "I;16":
        return Image.fromarray(a.astype(np.uint16) * 257)
    if mode == "RGBA":
        rgba = np.dstack([a, a, a, rng.integers(0, 256, (h, w), dtype=np.uint8)])
        return Image.fromarray(rgba, "RGBA")
    return Image.fromarray(a).convert(mode)


def encode_any(im, fmt):
    """Save in fmt, first converting to a mode the format can hold if it refuses this one."""
    if im.mode == "I;16" and fmt != "PNG":  # Pillow would clip 16-bit values at 255 for the others: scale them
        im = Image.fromarray((np.asarray(im) // 257).astype(np.uint8))
    try:
        return encode(im, fmt)
    except (OSError, ValueError, KeyError):
        return encode(im.convert("RGB"), fmt)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 200), w=st.integers(1, 200), mode=st.sampled_from(MODES),
       content=st.sampled_from(["noise", "sparse", "bar", "flat"]), fmt=st.sampled_from(FORMATS))
def test_any_image_gives_a_digit_or_an_image_error(seed, h, w, mode, content, fmt):
    data = encode_any(random_image(seed, h, w, mode, content), fmt)
    try:
        shown, out = prepare_upload(data)
    except ImageError as e:
        assert str(e) == BLANK  # a valid image may lack a digit; it must never be called unreadable
        return
    assert isinstance(shown, Image.Image)
    check_digit(out)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # a mangled header may claim 100M pixels
@settings(max_examples=100, deadline=None)
@given(fmt=st.sampled_from(FORMATS), cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                     min_size=1, max_size=6), truncate=st.integers(0, 10**6))
def test_damaged_files_give_a_digit_or_an_image_error(fmt, cuts, truncate):
    data = bytearray(encode_any(Image.fromarray(seven_image()), fmt))
    for at, byte in cuts:
        data[at % len(data)] = byte
    data = data[:max(1, truncate % (len(data) + 1))]
    try:
        _, out = prepare_upload(bytes(data))
    except ImageError:
        return
    check_digit(out)
