"""Sign-in, tokens and password hashing."""
