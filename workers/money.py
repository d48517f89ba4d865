"""Money as people read it. Amounts are integer minor units with an ISO 4217 code."""

from __future__ import annotations

from sync.core.payouts import split_fee

__all__ = ["format_money", "split_fee"]

SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "AUD": "A$", "CAD": "C$", "NZD": "NZ$"}
# Currencies whose minor unit is not 1/100 (ISO 4217 exponent).
EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def format_money(amount: int, currency: str) -> str:
    """`4200, "GBP"` → "£42.00"; unknown symbols put the code after the amount."""
    code = currency.upper()
    exp = EXPONENTS.get(code, 2)
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**exp) if exp else (abs(amount), 0)
    number = f"{whole:,}" + (f".{minor:0{exp}d}" if exp else "")
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}"
