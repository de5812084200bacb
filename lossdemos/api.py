"""The loss API (ARCHITECTURE §6): POST /api/losses/<op>."""

from ninja import Router

router = Router(tags=["losses"])
