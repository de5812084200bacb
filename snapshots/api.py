"""The library API (ARCHITECTURE §6)."""

from ninja import Router

router = Router(tags=["library"])
