"""Thumbnails: sizes, EXIF orientation (phones store portrait shots sideways), reduced JPEG decoding."""

from __future__ import annotations

import io

from PIL import Image

from serve_app.core.images import THUMBNAIL_SIZES, thumbnails


def _sideways_photo() -> bytes:
    """A 2000x1500 landscape JPEG whose EXIF says: turn me 90 degrees clockwise (a portrait shot);
    its left third is red, so the top of the upright picture must be red."""
    image = Image.new("RGB", (2000, 1500), (20, 40, 200))
    image.paste((220, 20, 20), (0, 0, 660, 1500))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def test_thumbnails_are_upright_and_sized() -> None:
    out = thumbnails(_sideways_photo())
    assert sorted(out) == sorted(THUMBNAIL_SIZES)
    for size, data in out.items():
        with Image.open(io.BytesIO(data)) as thumb:
            assert thumb.format == "WEBP"
            assert thumb.height == size and abs(thumb.width - size * 1500 / 2000) < 1  # portrait now
            top = thumb.convert("RGB").getpixel((thumb.width // 2, 2))
            bottom = thumb.convert("RGB").getpixel((thumb.width // 2, thumb.height - 3))
            assert top[0] > 150 and top[2] < 100, top
            assert bottom[2] > 150, bottom


def test_small_and_png_images_are_not_enlarged() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (0, 128, 0)).save(buffer, "PNG")
    out = thumbnails(buffer.getvalue())
    with Image.open(io.BytesIO(out[512])) as thumb:
        assert thumb.size == (300, 200)
    with Image.open(io.BytesIO(out[128])) as thumb:
        assert thumb.width == 128 and abs(thumb.height - 128 * 200 / 300) < 1


def test_a_sideways_heic_is_validated_and_thumbnailed_upright_from_one_decode() -> None:
    """An iPhone's HEIC: validated and thumbnailed from the one full decode, upright like the JPEG."""
    from pillow_heif import from_pillow

    from serve_app.core.images import inspect_and_thumbnail

    stored = Image.new("RGB", (2000, 1500), (20, 40, 200))  # as _sideways_photo: its left third red
    stored.paste((220, 20, 20), (0, 0, 660, 1500))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view (pillow-heif writes it as the file's rotation)
    buffer = io.BytesIO()
    from_pillow(stored).save(buffer, quality=85, exif=exif.tobytes())
    inspected = inspect_and_thumbnail(buffer.getvalue(), max_bytes=10**8, max_pixels=10**8)
    assert inspected.info.content_type == "image/heic"
    with Image.open(io.BytesIO(inspected.thumbnails[256])) as thumb:
        assert thumb.height == 256 and abs(thumb.width - 256 * 1500 / 2000) < 1  # portrait now
        top = thumb.convert("RGB").getpixel((thumb.width // 2, 2))
        assert top[0] > 150 and top[2] < 100, top
    # and its copy for the scan: a JPEG, upright, with no turn left to apply
    assert inspected.scan_copy is not None
    with Image.open(io.BytesIO(inspected.scan_copy)) as copy:
        assert copy.format == "JPEG" and copy.size == (1500, 2000)
        assert copy.getexif().get(0x0112, 1) == 1
        top = copy.convert("RGB").getpixel((750, 5))
        assert top[0] > 150 and top[2] < 100, top
