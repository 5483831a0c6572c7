"""Real encoded images for tests: the tables' images are decoded when they are validated."""

from __future__ import annotations

import io

from PIL import Image


def png_bytes(size: int = 4, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A `size` x `size` PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()
