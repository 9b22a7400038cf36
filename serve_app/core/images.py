"""Image validation and thumbnails (framework-free).

Checks run from cheapest to dearest: byte size, then the header (type, pixel count) before a
single pixel is decoded, so a decompression bomb is refused without being expanded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from serve_app.core.errors import InvalidImage, PayloadTooLarge

# a phone's own format: iPhones save HEIC unless told otherwise (read by libheif, through pillow-heif)
register_heif_opener()
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "MPO": "image/jpeg", "HEIF": "image/heif"}
HEVC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis")  # ftyp major brands of an HEVC-coded HEIF
THUMBNAIL_SIZES = (128, 256, 512)
# a photo whose full decode is slow gets a JPEG copy for the scan, made (upright) from the decode its
# validation needs anyway: a 12 MP HEIC decodes in ~0.26 s on this CPU, its copy in ~0.03 s (and is
# made in ~0.02 s); the scan would otherwise decode the HEIC a second time
SCAN_COPY_FORMATS = ("HEIF",)
SCAN_COPY_TYPES = ("image/heic", "image/heif")  # the content types ``_info`` gives those formats
SCAN_COPY_QUALITY = 95


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int
    byte_size: int


def _opened(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """The upload opened, its header checked (decoding it is the caller's: ``_upright``), or
    ``PayloadTooLarge`` (413) / ``InvalidImage`` (422)."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise InvalidImage("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"image has too many pixels: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, ImportError) as exc:
        # ImportError: ultralytics, once imported in a process, patches Image.open to try a HEIF
        # plug-in on unreadable data; without the plug-in that is still just an unreadable image
        raise InvalidImage(f"not a readable image: {exc}") from None
    try:
        if image.format not in ALLOWED:
            raise InvalidImage(f"unsupported image type {image.format}; use JPEG, PNG, WebP or HEIC")
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {max_pixels / 1e6:.0f} MP"
            )
        if width < 16 or height < 16:
            raise InvalidImage(f"image is only {width}x{height} pixels")
    except Exception:
        image.close()
        raise
    return image


def _decoded(image: Image.Image) -> None:
    """Decode ``image`` (truncated or corrupt data fails here) or raise ``InvalidImage``."""
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImage(f"image data is truncated or corrupt: {exc}") from None


def _info(image: Image.Image, data: bytes) -> ImageInfo:
    content_type = ALLOWED[str(image.format)]
    if image.format == "HEIF" and data[8:12] in HEVC_BRANDS:
        content_type = "image/heic"
    return ImageInfo(content_type, image.width, image.height, len(data))


@dataclass(frozen=True)
class Inspected:
    """What the upload's one decode gives: the image's facts, its thumbnails, its scan copy."""

    info: ImageInfo
    thumbnails: dict[int, bytes]  # longest side (px) -> WebP
    scan_copy: bytes | None = None  # a JPEG of the upright photo, for a format slow to decode


def inspect_and_thumbnail(data: bytes, *, max_bytes: int, max_pixels: int, thumbnails: bool = True) -> Inspected:
    """Validate an upload (raise ``PayloadTooLarge``, 413, or ``InvalidImage``, 422) and make its
    thumbnails, decoding it once (``_upright``): a JPEG at a reduced DCT scale, which reads all of
    its data as a full decode does (truncated data fails alike) in a fifth of the time (12 MP: ~8 ms
    instead of ~40); any other image in full, its thumbnails made from that, and for a HEIC its
    copy for the scan (``SCAN_COPY_FORMATS``). ``thumbnails=False``: validated and copied alone (the
    thumbnails, ~30 ms of a 1,280 px photo's upload, are then made later: ``thumbnails``)."""
    with _opened(data, max_bytes=max_bytes, max_pixels=max_pixels) as image:
        info = _info(image, data)
        upright = _upright(image)
        copy = None
        if image.format in SCAN_COPY_FORMATS:
            buffer = io.BytesIO()
            upright.save(buffer, "JPEG", quality=SCAN_COPY_QUALITY)
            copy = buffer.getvalue()
        # inside the block: the upright image may be the opened one itself, unusable once closed
        return Inspected(info, _thumbnails_of(upright) if thumbnails else {}, copy)


def thumbnails(data: bytes) -> dict[int, bytes]:
    """WebP thumbnails whose longest side is 128, 256 and 512 px, EXIF orientation applied, or
    ``InvalidImage`` for data that does not decode (truncated, corrupt)."""
    with Image.open(io.BytesIO(data)) as image:
        return _thumbnails_of(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    """An opened image decoded (``InvalidImage`` where that fails), turned by its EXIF, as RGB. A JPEG
    is decoded at the smallest DCT scale still larger than the biggest thumbnail (``draft``), each
    thumbnail then made from the next larger one: a third of the time of three full-size resizes, on
    the request path of every upload and scan; any other image in full. Turned in place and converted
    only when not RGB: a 12 MP photo is ~36 MB, each copy of it ~16 ms on this CPU. The result may be
    ``image`` itself."""
    if image.format in ("JPEG", "MPO"):
        shrink = max(THUMBNAIL_SIZES) / max(image.size)
        if shrink < 1:
            image.draft("RGB", (int(image.width * shrink) + 1, int(image.height * shrink) + 1))
    _decoded(image)
    ImageOps.exif_transpose(image, in_place=True)
    return image if image.mode == "RGB" else image.convert("RGB")


def _thumbnails_of(upright: Image.Image) -> dict[int, bytes]:
    """The WebP thumbnails, each made from the next larger one, shrinking ``upright`` itself (it ends
    as the smallest thumbnail: the caller is done with it)."""
    thumb = upright
    out = {}
    for size in sorted(THUMBNAIL_SIZES, reverse=True):
        thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        thumb.save(buffer, format="WEBP", quality=82, method=2)
        out[size] = buffer.getvalue()
    return dict(sorted(out.items()))
