"""Applying commands to rows, inside a push's write transaction: the batch context and its
cached reads (`batch`), and the rules of each policy: last-writer-wins entities with the
note merge and the lesson state machine (`lww`), append-only entities and the derived
records they update (`append`), server-authoritative bookings (`booking`)."""
