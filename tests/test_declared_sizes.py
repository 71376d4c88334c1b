"""Input images whose header declares an enormous canvas: refused with `invalid_params` naming `max_image_side`,
from the header alone (no pixel decoded, the worker's memory unmoved), never `internal` (Pillow's guard against
decompression bombs fires before any size check of ours could). The crafted images here feed the fuzz too."""

from __future__ import annotations

import io
import resource
import struct
import zlib

import pytest
import zmq
from PIL import Image, ImageFile

from pixflow.protocol import pack, unpack
from pixflow.workflows.images import Declared, ImageLimits, declared, inspect
from tests.workflow_helpers import UploadingReplay

LIMITS = ImageLimits(max_bytes=8 << 20, max_side=4096, formats=("png", "jpeg", "webp"))


def _encoded(mode: str, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (16, 16)).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG whose IHDR says width x height (its CRC right): Pillow opens it as that size."""
    data = bytearray(_encoded("1", "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def whole_huge_png(side: int = 50_000) -> bytes:
    """The attack as it comes: a complete, valid 1-bit PNG of side x side, all black, a few hundred KB."""
    row = bytes(1 + (side + 7) // 8)  # filter byte, then the row's bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit per pixel, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def huge_jpeg(width: int, height: int) -> bytes:
    """A real baseline JPEG with its frame header (SOF0) saying width x height (each at most 65535)."""
    data = bytearray(_encoded("RGB", "JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def huge_webp(width: int, height: int, lossless: bool = False) -> bytes:
    """A real WebP (lossy `VP8 `, or lossless `VP8L`) whose bitstream header says width x height (at most 16383)."""
    data = bytearray(_encoded("RGB", "WEBP", lossless=lossless))
    if lossless:
        bits = struct.unpack("<I", data[21:25])[0] & ~((1 << 28) - 1)
        data[21:25] = struct.pack("<I", bits | (width - 1) | ((height - 1) << 14))
    else:
        data[26:30] = struct.pack("<HH", width, height)
    return bytes(data)


def huge_webp_canvas(width: int, height: int) -> bytes:
    """An extended WebP (`VP8X`) whose canvas is width x height (24 bits a side)."""
    data = bytearray(_encoded("RGBA", "WEBP", exif=b"Exif\x00\x00pixflow"))
    assert data[12:16] == b"VP8X"
    data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


HUGE = {
    "png 50000x50000": huge_png(50_000, 50_000),
    "png 2^31 a side": huge_png(2**31 - 1, 2**31 - 1),
    "jpeg 65000x65000": huge_jpeg(65_000, 65_000),
    "jpeg 20000x4": huge_jpeg(20_000, 4),
    "webp 16383x16383": huge_webp(16_383, 16_383),
    "webp lossless 16000x16000": huge_webp(16_000, 16_000, lossless=True),
    "webp canvas 100000x100000": huge_webp_canvas(100_000, 100_000),
}


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)


@pytest.mark.parametrize("data", HUGE.values(), ids=HUGE.keys())
def test_a_huge_declared_canvas_is_refused_from_the_header(data: bytes, no_decoding: None) -> None:
    size = declared(data)
    assert size is not None and max(size.width, size.height) > LIMITS.max_side
    with pytest.raises(Exception) as refused:
        inspect("reference", data, LIMITS)
    assert getattr(refused.value, "code", None) == "invalid_params", refused.value
    expected = f"'images.reference' is {size.width}x{size.height}; each side at most 4096 (max_image_side)"
    assert str(refused.value) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_encoded("RGB", "PNG"), Declared("png", 16, 16)),
        (_encoded("1", "PNG"), Declared("png", 16, 16)),
        (_encoded("RGB", "JPEG"), Declared("jpeg", 16, 16)),
        (_encoded("RGB", "JPEG", progressive=True), Declared("jpeg", 16, 16)),
        (_encoded("RGB", "JPEG", exif=b"Exif\x00\x00" + bytes(3000)), Declared("jpeg", 16, 16)),
        (_encoded("RGB", "WEBP"), Declared("webp", 16, 16)),
        (_encoded("RGBA", "WEBP", lossless=True), Declared("webp", 16, 16)),
        (_encoded("RGBA", "WEBP", exif=b"Exif\x00\x00x"), Declared("webp", 16, 16)),
        (_encoded("RGB", "GIF"), Declared("gif", 16, 16)),
        (_encoded("RGB", "BMP"), None),  # not read here: Pillow reads it, behind its own guard
        (b"\xff\xd8\xff" + b"\xff" * 100, None),  # fill bytes and no frame
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None),  # cut short
        (b"", None),
    ],
    ids=[
        "png", "png 1-bit", "jpeg", "jpeg progressive", "jpeg with exif", "webp", "webp lossless", "webp extended",
        "gif", "bmp", "jpeg without frame", "webp cut short", "empty",
    ],
)  # fmt: skip
def test_the_header_reader_agrees_with_pillow(data: bytes, expected: Declared | None) -> None:
    assert declared(data) == expected
    if expected is not None:
        with Image.open(io.BytesIO(data)) as image:
            assert (expected.width, expected.height) == image.size


SMALL = _encoded("RGB", "PNG")  # made before `no_decoding` is in force: saving loads


def test_an_image_within_the_sides_is_still_checked_without_decoding(no_decoding: None) -> None:
    assert inspect("reference", SMALL, LIMITS)["width"] == 16


@pytest.mark.parametrize(
    ("data", "limits"),
    [
        # Within a max_image_side set above what Pillow opens: Pillow's guard fires, and is answered.
        (huge_png(50_000, 50_000), ImageLimits(8 << 20, 100_000, ("png",))),
        # A format this module does not read, taken by the settings: Pillow's guard again.
        (_encoded("RGB", "BMP")[:18] + struct.pack("<ii", 60_000, 60_000) + _encoded("RGB", "BMP")[26:], None),
    ],
    ids=["over Pillow's limit", "bmp"],
)
def test_pillows_own_guard_is_answered_invalid_params(data: bytes, limits: ImageLimits | None) -> None:
    limits = limits or ImageLimits(8 << 20, 100_000, ("bmp",))
    with pytest.raises(Exception) as refused:
        inspect("reference", data, limits)
    assert getattr(refused.value, "code", None) == "invalid_params", refused.value
    assert "max_image_side" in str(refused.value)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_the_worker_refuses_the_whole_attack_without_its_memory_moving(start_worker) -> None:
    server = UploadingReplay().start()
    try:
        running = start_worker(server.url)
        attack = whole_huge_png()
        assert len(attack) < 1 << 20  # what makes it an attack: a few hundred KB for 2.5 billion pixels
        dealer = zmq.Context.instance().socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RCVTIMEO, 10_000)
        dealer.connect(running.req)
        request = {"type": "generate", "v": 1, "req_id": 1, "prompt": "knight", "workflow": "sprite_img2img"}
        before = _peak_rss_mb()
        dealer.send_multipart([b"", pack({**request, "images": {"reference": attack}})])
        answer = unpack(dealer.recv_multipart()[-1])
        dealer.close(0)
        assert answer["code"] == "invalid_params", answer
        assert answer["message"] == "'images.reference' is 50000x50000; each side at most 4096 (max_image_side)"
        assert _peak_rss_mb() - before < 50  # decoding it would take 2.5 GB (Pillow keeps a byte per 1-bit pixel)
        assert running.client().ping()["type"] == "pong"
    finally:
        server.stop()
