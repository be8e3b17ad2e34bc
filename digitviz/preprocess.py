"""A user's image (a canvas drawing or an uploaded file) as the 28x28 picture the model sees.

MNIST's digits were prepared by LeCun et al.: white ink on black, cropped, scaled to fit a 20x20 box keeping the
aspect ratio, then placed in a 28x28 field with the ink's centre of mass at the centre. `mnist_style` does the same
to any greyscale image, so a student's digit arrives looking like the digits the model was trained on.

Transparency rule (`to_grayscale`): a transparent pixel is background, so it takes the background's colour. When
the opaque pixels cover most of the image they are the background (a photo with transparent corners) and the
background is their median brightness; when they are the minority they are the ink (a canvas drawing, a sticker-style
PNG) and the background is the opposite of the ink: black behind light ink, white behind dark ink.

Inversion rule (`mnist_style`): the background is whatever the image's border mostly is (median of the border
pixels); a light border means dark ink on light paper, which is inverted. An even tilt of the lighting is removed by
fitting a plane to the border, so the far side of a photo lit from one side does not turn into ink.
"""
import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
SIDE, BOX = 28, 20  # MNIST's field and the box its digits were scaled into
CENTRE = 14.0  # where MNIST's centre of mass lands, in row/column index units (measured: 14.0 +- 0.3)
WORK_SIDE = 256  # big images are averaged down to about this before analysis: the result is 20 pixels anyway
NOISE_FLOOR = 0.04  # background wobble below this (JPEG ringing, paper grain) is not ink
MIN_CONTRAST = 0.1  # ink must stand this far above the noise floor, on a 0..1 scale
TRIM = 0.001  # share of the ink's mass trimmed from each side of its bounding box, to drop stray specks

NOT_IMAGE = "That file is not an image we can read (PNG, JPEG, GIF, BMP or WebP)."
DAMAGED = "That image file is damaged or incomplete, so it cannot be read."
EMPTY_FILE = "That file is empty."
TOO_MANY_BYTES = f"That file is too large: the limit is {MAX_BYTES // (1024 * 1024)} MB."
TOO_MANY_PIXELS = "That image has too many pixels: the limit is 4096 x 4096."
BLANK = "No digit found: the image is blank or its ink is too faint."
CANVAS_EMPTY = "Draw a digit first: the canvas is empty."
# A hostile file can trip a decoder in many ways; every one of these means "cannot be read".
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError,
                  TypeError, ZeroDivisionError, OverflowError, Image.DecompressionBombError)


class ImageError(ValueError):
    """An image we cannot use; the message is one sentence a student can act on."""


def open_upload(data):
    """Decode uploaded bytes into a loaded PIL image (first frame, upright), refusing anything unsafe or unreadable."""
    if not data:
        raise ImageError(EMPTY_FILE)
    if len(data) > MAX_BYTES:
        raise ImageError(TOO_MANY_BYTES)
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as e:  # Pillow's own limit, 179 MP: ours below is far smaller
        raise ImageError(TOO_MANY_PIXELS) from e
    except UnidentifiedImageError as e:
        raise ImageError(NOT_IMAGE) from e
    except _DECODE_ERRORS as e:
        raise ImageError(DAMAGED) from e
    w, h = im.size
    # Before load(): a header's claim is refused before memory is spent on it. Pillow warns from 89 MP
    # (DecompressionBombWarning) without refusing; every such image is refused here anyway.
    if w * h > MAX_PIXELS:
        raise ImageError(TOO_MANY_PIXELS)
    if w < 1 or h < 1:
        raise ImageError(DAMAGED)
    try:
        im.load()  # the first frame: an animated GIF or WebP opens on frame 0
    except _DECODE_ERRORS as e:
        raise ImageError(DAMAGED) from e
    return _upright(im)


def _upright(im):
    """Apply the camera's EXIF orientation; an unreadable EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except _DECODE_ERRORS:
        return im.copy()


def to_grayscale(im):
    """Brightness of a PIL image of any mode as (h, w) float32 in 0..1, transparency composited (module docstring)."""
    mode = im.mode
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.float32) / 65535  # (h, w) from uint16: the full 16-bit range, not clipped
    if mode in ("I", "F"):
        return _rescale(np.asarray(im).astype(np.float32), integers=mode == "I")
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        lum = np.asarray(rgba.convert("L"), dtype=np.float32) / 255  # (h, w)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255  # (h, w)
        return _composite(lum, alpha)
    if mode not in ("L", "1"):
        im = im.convert("RGB")  # CMYK, palette, YCbCr...: via RGB, whose luma Pillow knows (ITU-R 601-2)
    return np.asarray(im.convert("L"), dtype=np.float32) / 255


def _has_alpha(im):
    """Whether some pixels may be see-through: an alpha band or a transparent colour/palette entry."""
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _rescale(a, integers):
    """32-bit integers by the bit depth they fit, floats as they are if in 0..1, anything else by its own range."""
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    for top in (255.0, 65535.0) if integers else (1.0,):
        if lo >= 0 and hi <= top:
            return a / top
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _composite(lum, alpha):
    """(h, w) brightness and opacity -> (h, w) brightness with transparent pixels showing the background."""
    opaque = alpha > 0.5
    if not opaque.any():
        opaque = alpha > 0  # a drawing made only with a see-through brush
    if not opaque.any():
        return np.zeros_like(lum)  # nothing drawn at all
    if opaque.mean() > 0.5:
        background = float(np.median(lum[opaque]))  # the opaque pixels are the background itself
    else:
        ink = float((lum * alpha).sum() / alpha.sum())
        background = 1.0 if ink < 0.5 else 0.0  # the opaque pixels are ink: put them on its opposite
    return lum * alpha + background * (1 - alpha)


def mnist_style(gray):
    """(h, w) brightness in 0..1 -> (28, 28) float32 white ink on black, scaled and centred as MNIST's digits were."""
    a = np.nan_to_num(np.asarray(gray, dtype=np.float32), nan=0.0)
    if a.ndim != 2:
        raise ValueError(f"mnist_style needs a (height, width) array, got shape {a.shape}")
    if a.size == 0:
        raise ImageError(BLANK)
    ink = _ink(_shrink(np.clip(a, 0, 1)))
    top, bottom, left, right = _ink_box(ink)
    glyph = _fit_box(ink[top:bottom, left:right])
    if glyph.max() <= 0:
        raise ImageError(BLANK)
    out = _centre_by_mass(glyph)
    return (out / out.max()).astype(np.float32)


def _shrink(a):
    """Average a big image down to about WORK_SIDE on its long side, keeping a thin image's short side readable."""
    h, w = a.shape
    scale = max(WORK_SIDE / max(h, w), min(1.0, 16 / min(h, w)))
    if scale >= 1:
        return a
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(a, "F").resize(size, Image.Resampling.BOX))


def _border(a):
    """Row, column and value of each pixel on the image's outer ring (all of a 1- or 2-pixel-thin image)."""
    mask = np.zeros(a.shape, dtype=bool)
    mask[[0, -1], :] = True
    mask[:, [0, -1]] = True
    rows, cols = np.nonzero(mask)
    return rows, cols, a[rows, cols]


def _ink(a):
    """(h, w) brightness -> (h, w) ink in 0..1 on a zero background, or ImageError when there is no ink."""
    rows, cols, values = _border(a)
    if np.median(values) > 0.5:  # a light border: dark ink on light paper
        a, values = 1 - a, 1 - values
    plane, spread = _fit_plane(rows, cols, values)
    yy, xx = np.indices(a.shape, dtype=np.float32)
    residual = a - (plane[0] + plane[1] * yy + plane[2] * xx)
    floor = max(NOISE_FLOOR, 4 * spread)
    peak = float(residual.max())
    if peak - floor < MIN_CONTRAST:
        raise ImageError(BLANK)
    return np.clip((residual - floor) / (peak - floor), 0, 1)


def _fit_plane(rows, cols, values):
    """Robust plane through the border -> ((c, dy, dx), noise spread); ink touching the edge is left out."""
    design = np.stack([np.ones_like(values), rows, cols], axis=1).astype(np.float64)
    keep = np.ones(len(values), dtype=bool)
    for _ in range(3):
        plane = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ plane
        spread = 1.4826 * float(np.median(np.abs(residual[keep])))  # MAD: the paper's grain, not the ink's
        keep = np.abs(residual) <= max(3 * spread, NOISE_FLOOR)
    return plane, spread


def _ink_box(ink):
    """(top, bottom, left, right) of the ink, trimming TRIM of its mass from each side so specks do not stretch it."""
    def span(profile):
        cum = np.cumsum(profile)
        lo = int(np.searchsorted(cum, TRIM * cum[-1], side="right"))
        hi = int(np.searchsorted(cum, (1 - TRIM) * cum[-1], side="left")) + 1
        return lo, max(hi, lo + 1)
    return (*span(ink.sum(axis=1)), *span(ink.sum(axis=0)))


def _fit_box(crop):
    """Scale an (h, w) crop so its longer side is 20 pixels, keeping the aspect ratio (a thin strip stays 1 pixel)."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Pillow's bilinear widens its kernel when shrinking, so this averages (antialiases) and never rings below zero.
    return np.asarray(Image.fromarray(crop.astype(np.float32), "F").resize(size, Image.Resampling.BILINEAR))


def _centre_by_mass(glyph):
    """Paste an (h, w) glyph into a (28, 28) field, shifted by whole pixels so its centre of mass sits at CENTRE."""
    h, w = glyph.shape
    yy, xx = np.indices(glyph.shape)
    mass = glyph.sum()
    top = int(round(CENTRE - (glyph * yy).sum() / mass))
    left = int(round(CENTRE - (glyph * xx).sum() / mass))
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    y0, x0 = max(top, 0), max(left, 0)  # clip the glyph where a lopsided one overhangs the field
    y1, x1 = min(top + h, SIDE), min(left + w, SIDE)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = glyph[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def prepare_upload(data):
    """Uploaded bytes -> (image to show the student, (28, 28) float32 image for the model)."""
    im = _reduce(open_upload(data))
    gray = to_grayscale(im)
    return _display(im, gray), mnist_style(gray)


def _reduce(im):
    """Box-average a big image by a whole factor while it is still 8-bit: a 16-megapixel float copy is 64 MB each."""
    w, h = im.size
    factor = min(max(w, h) // WORK_SIDE, max(1, min(w, h) // 16))  # keep a thin image's short side readable
    if factor < 2 or im.mode.startswith("I;16"):  # Pillow cannot reduce 16-bit; such PNGs are rare
        return im
    if _has_alpha(im):
        im = im.convert("RGBa")  # premultiplied, so a transparent pixel's hidden colour does not bleed into the ink
    elif im.mode in ("1", "P"):
        im = im.convert("L" if im.mode == "1" else "RGB")  # averaging palette indices would be meaningless
    return im.reduce(factor)


def _display(im, gray):
    """What the student sees: the colours they uploaded, or the brightness we read where colour would mislead."""
    plain = im.mode in ("RGB", "L", "1", "CMYK", "YCbCr") or (im.mode == "P" and "transparency" not in im.info)
    shown = im.convert("RGB") if plain else Image.fromarray(np.round(gray * 255).astype(np.uint8))
    shown.thumbnail((512, 512))
    return shown


def prepare_drawing(rgba):
    """streamlit-drawable-canvas's (h, w, 4) uint8 RGBA, white strokes on black or transparent -> (28, 28) float32."""
    if rgba is None:
        raise ImageError(CANVAS_EMPTY)
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.size == 0:
        raise ImageError("The drawing must be an RGBA image of shape (height, width, 4).")
    gray = to_grayscale(Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA"))
    if gray.max() - gray.min() <= 0:
        raise ImageError(CANVAS_EMPTY)
    try:
        return mnist_style(gray)
    except ImageError as e:
        raise ImageError(CANVAS_EMPTY) from e
