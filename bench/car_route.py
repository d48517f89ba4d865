"""A plausible hour in a learner's car, as 1 Hz GPS fixes (pure: no I/O).

The car drives legs between junctions on a street grid: it pulls away, accelerates to the
leg's limit (30, 40 or 60 mph roads), brakes to a stop at lights or a give-way line (or
only slows for a roundabout or a bend), waits, and turns. Positions carry the jitter a
phone's GPS has (a few metres, worse under trees and between buildings), and the accuracy
a phone reports with them: 3-8 m most of the time, with spells of 15-40 m.

Each fix is `[t_ms, lat, lon, speed_kmh, accuracy_m]`: lat/lon to 6 decimals, speed and
accuracy to 1 decimal, as the PWA's recorder stores them (clients/pwa/js/ui/trip.js).
"""

from __future__ import annotations

import math
import random
from typing import Any

EARTH_M = 6_371_008.8
# Bristol, where the demo school teaches (its test routes start here too).
START = (51.4545, -2.5879)
LIMITS_KMH = (48.0, 48.0, 48.0, 64.0, 64.0, 96.0)  # mostly town roads, some faster ones


def _step(lat: float, lon: float, heading_deg: float, metres: float) -> tuple[float, float]:
    """Move `metres` along `heading_deg` (0 = north) on a local flat approximation."""
    h = math.radians(heading_deg)
    dlat = metres * math.cos(h) / EARTH_M
    dlon = metres * math.sin(h) / (EARTH_M * math.cos(math.radians(lat)))
    return lat + math.degrees(dlat), lon + math.degrees(dlon)


def drive(seconds: int = 3600, start_ms: int = 0, seed: int = 1) -> list[list[Any]]:
    """`seconds` fixes at 1 Hz from `start_ms`: a drive of legs, stops and turns."""
    rng = random.Random(seed)
    lat, lon = START
    heading = rng.choice((0.0, 90.0, 180.0, 270.0))
    speed = 0.0  # m/s
    fixes: list[list[Any]] = []
    poor_left = 0  # seconds of poor reception still to come
    t = 0
    while t < seconds:
        limit = rng.choice(LIMITS_KMH) / 3.6 * rng.uniform(0.85, 1.0)
        length = rng.uniform(150, 900) if limit < 15 else rng.uniform(600, 2500)
        stop_s = rng.choice((0, 0, 0, 5, 12, 25, 40))  # 0: slow for a roundabout or bend
        end_speed = 0.0 if stop_s else rng.uniform(4, 8)
        done = 0.0
        while done < length and t < seconds:
            left = length - done
            # Brake at ~1.5 m/s² to be at end_speed by the end of the leg, else accelerate
            # at ~1.2 m/s² towards the limit (a learner's gentle pace), small wobbles.
            braking = max(0.0, speed**2 - end_speed**2) / (2 * 1.5)
            if left <= braking + speed:
                speed = max(end_speed, speed - 1.5)
            else:
                speed = min(limit, speed + 1.2)
            speed = max(0.5, speed + rng.uniform(-0.3, 0.3))
            heading += rng.uniform(-1.5, 1.5)  # roads are not ruled lines
            lat, lon = _step(lat, lon, heading, speed)
            done += speed
            fixes.append(_fix(rng, start_ms, t, lat, lon, speed, poor_left > 0))
            poor_left = max(0, poor_left - 1) or (
                rng.randint(10, 60) if rng.random() < 0.004 else 0
            )
            t += 1
        for _ in range(stop_s):  # waiting at the lights or a give-way line
            if t >= seconds:
                break
            fixes.append(_fix(rng, start_ms, t, lat, lon, 0.0, poor_left > 0))
            t += 1
        heading += rng.choice((-90.0, -90.0, 90.0, 90.0, 0.0, 180.0 if rng.random() < 0.05 else 0))
        speed = min(speed, 4.0)  # a turn is taken slowly
    return fixes


def _fix(
    rng: random.Random, start_ms: int, t: int, lat: float, lon: float, speed: float, poor: bool
) -> list[Any]:
    accuracy = rng.uniform(15, 40) if poor else rng.uniform(3, 8)
    jitter = accuracy / 3  # a phone's reported accuracy is roughly a 68 % radius
    jlat, jlon = _step(lat, lon, rng.uniform(0, 360), abs(rng.gauss(0, jitter)))
    return [
        start_ms + t * 1000,
        round(jlat, 6),
        round(jlon, 6),
        round(speed * 3.6, 1),
        round(accuracy, 1),
    ]
