"""What type a fetched file is kept under: its bytes, its declared type and its name, weighed.

Servers mislabel files all the time (a PNG sent as ``text/plain``, a web page sent where a font
should be), and a type written into a ``data:`` URI decides what a browser does with it. So an
image's magic bytes beat its header, a vague header (``application/octet-stream``) defers to the
file's extension, and an HTML page where a file was expected is refused. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag

__all__ = [
    "IMAGE_TYPES",
    "SAFE_TYPE",
    "SUPPORTED_IMAGE_SOURCE_TYPES",
    "VAGUE_TYPES",
    "extension_type",
    "image_type",
    "looks_like_html",
    "media_type",
    "resource_type",
    "sniff_image",
]

# A type safe to write into a data: URI (and nothing that could close or extend it).
SAFE_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*(;charset=[a-z0-9_-]+)?")

IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/svg+xml",
        "image/apng",
        "image/bmp",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    }
)
# declared types that say nothing: the bytes or the file name decide
VAGUE_TYPES = {"", "application/octet-stream", "binary/octet-stream", "text/plain"}

_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "svg": "image/svg+xml",
    "ico": "image/x-icon",
    "bmp": "image/bmp",
    "woff2": "font/woff2",
    "woff": "font/woff",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject",
    "css": "text/css",
    "vtt": "text/vtt",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
}

# what a <source type=...> may declare for a browser to show it ("": nothing declared)
SUPPORTED_IMAGE_SOURCE_TYPES = IMAGE_TYPES | {""}


def image_type(body: bytes, declared: str | None, url: str) -> str | None:
    """The type to keep an image under, or None when ``body`` is not an image."""
    sniffed = sniff_image(body)
    declared = (declared or "").lower()
    if sniffed == "image/svg+xml" or (sniffed and declared not in IMAGE_TYPES):
        return sniffed
    if declared in IMAGE_TYPES and body:
        return declared
    if declared in VAGUE_TYPES and extension_type(url).startswith("image/") and body:
        return extension_type(url)
    return None


def resource_type(body: bytes, declared: str | None, url: str) -> str | None:
    """The type to keep a file CSS points at under, or None when the server sent a web page."""
    declared = (declared or "").lower()
    sniffed = sniff_image(body)
    if sniffed and (
        declared in VAGUE_TYPES or sniffed == "image/svg+xml" or declared.startswith("image/")
    ):
        content_type = sniffed
    elif declared == "text/html" or (declared in VAGUE_TYPES and looks_like_html(body)):
        return None
    elif declared in VAGUE_TYPES:
        content_type = extension_type(url) or "application/octet-stream"
    else:
        content_type = declared
    if not SAFE_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    return content_type


def media_type(body: bytes, declared: str | None, url: str) -> str | None:
    """The type to keep audio or video under, or None when it is a web page or empty."""
    declared = (declared or "").lower()
    if declared == "text/html" or not body:
        return None
    if declared in VAGUE_TYPES or not SAFE_TYPE.fullmatch(declared):
        declared = extension_type(url) or "application/octet-stream"
    return declared


def sniff_image(body: bytes) -> str | None:
    """The image type the first bytes of ``body`` show, or None."""
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    if body[4:12] in (b"ftypavif", b"ftypavis"):
        return "image/avif"
    if body.startswith(b"\x00\x00\x01\x00"):
        return "image/x-icon"
    if body.startswith(b"BM"):
        return "image/bmp"
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (
        head.startswith((b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in head
    ):
        return "image/svg+xml"
    return None


def extension_type(url: str) -> str:
    """The type the file name in ``url`` suggests (``.woff2`` → ``font/woff2``), or ""."""
    path = urldefrag(url)[0].partition("?")[0]
    name = path.rsplit("/", 1)[-1]
    return _BY_EXTENSION.get(name.rsplit(".", 1)[-1].lower(), "") if "." in name else ""


def looks_like_html(body: bytes) -> bool:
    """True if ``body`` starts like an HTML document."""
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))
