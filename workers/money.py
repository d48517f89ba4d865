"""Money as people read it. Amounts are integer minor units with an ISO 4217 code."""

from __future__ import annotations

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


def split_fee(gross: int, fee_bps: int) -> tuple[int, int]:
    """(platform fee, instructor share) of `gross` minor units; the fee is rounded half up
    to a whole minor unit and the share is the rest, so the two always add up."""
    if not 0 <= fee_bps <= 10_000:
        raise ValueError("fee_bps must be between 0 and 10000")
    fee = (gross * fee_bps + 5_000) // 10_000
    return fee, gross - fee
