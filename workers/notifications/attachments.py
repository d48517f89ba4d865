"""A file sent with an email (an invoice's PDF): made when the event is delivered, from the
rows as they are then, and carried by the email channel only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes
