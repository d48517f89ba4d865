"""Real local peers the workers talk to in tests: an SMTP server (aiosmtpd), a Web Push
service that decrypts (RFC 8291) and checks VAPID (RFC 8292) on its own, and stand-ins for
Twilio's and Stripe's REST APIs that the real SDKs are pointed at. All on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import struct
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- SMTP -----------------------------------------------------------------------------------


class _PortZeroController(Controller):
    """aiosmtpd's Controller, bound to port 0 (a free port), then told which it got."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpPeer:
    """An SMTP server on 127.0.0.1 collecting what it receives; optional AUTH LOGIN/PLAIN,
    and a queue of SMTP replies to answer DATA with (e.g. "451 try later")."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.replies: list[str] = []
        self.user, self.password = user, password
        kwargs: dict[str, Any] = {}
        if user:
            kwargs = {"authenticator": self._auth, "auth_required": True, "auth_require_tls": False}
        self.controller = _PortZeroController(self, hostname="127.0.0.1", port=0, **kwargs)

    def _auth(
        self, _server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode() == self.user and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 2.0.0 queued"

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"smtp://{auth}127.0.0.1:{self.controller.port}?starttls=off"

    def start(self) -> SmtpPeer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    async def wait_for(
        self, address: str, count: int = 1, within: float = 10.0
    ) -> list[EmailMessage]:
        """Mails to `address` once there are `count` of them (polling; the server runs in a
        thread of its own)."""
        deadline = time.monotonic() + within
        while len(self.to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no mail for {address} after {within}s: {len(self.messages)} mails"
                )
            await asyncio.sleep(0.05)
        return self.to(address)


# --- Web Push ------------------------------------------------------------------------------


@dataclass
class Subscriber:
    """A browser's side of one subscription: its ECDH key pair and auth secret."""

    id: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )


def ece_decrypt(body: bytes, sub: Subscriber) -> bytes:
    """RFC 8291 / RFC 8188 aes128gcm, from the user agent's side, written out from the RFCs
    (not with the library the sender used)."""
    salt, rs, idlen = body[:16], struct.unpack("!L", body[16:20])[0], body[20]
    sender_public = body[21 : 21 + idlen]
    ciphertext = body[21 + idlen :]
    assert rs >= 18 and len(ciphertext) <= rs, "one record expected"
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
    shared = sub.key.exchange(ec.ECDH(), sender)
    info = b"WebPush: info\x00" + sub.public + sender_public
    ikm = HKDF(hashes.SHA256(), 32, sub.auth, info).derive(shared)
    cek = HKDF(hashes.SHA256(), 16, salt, b"Content-Encoding: aes128gcm\x00").derive(ikm)
    nonce = HKDF(hashes.SHA256(), 12, salt, b"Content-Encoding: nonce\x00").derive(ikm)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    stripped = padded.rstrip(b"\x00")
    assert stripped.endswith(b"\x02"), "last-record delimiter missing"
    return stripped[:-1]


def verify_vapid(header: str, audience: str, expected_key: str | None) -> dict[str, Any]:
    """Check an RFC 8292 `Authorization: vapid t=…, k=…` header; returns the JWT claims."""
    scheme, _, params = header.partition(" ")
    assert scheme.lower() == "vapid", header
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    key_raw = unb64u(parts["k"])
    if expected_key is not None:
        assert parts["k"] == expected_key, "VAPID key is not the server's"
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_raw)
    claims: dict[str, Any] = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=audience)
    assert claims["exp"] <= time.time() + 24 * 3600, "exp more than 24 h ahead"
    assert str(claims["sub"]).startswith(("mailto:", "https:")), claims
    return claims


class PushPeer:
    """A push service: POST /push/<id> answers from a per-subscription script of statuses
    (default 201), decrypting and verifying every message it accepts."""

    def __init__(self, vapid_public: str | None = None) -> None:
        self.vapid_public = vapid_public
        self.subs: dict[str, Subscriber] = {}
        self.script: dict[str, list[int]] = defaultdict(list)
        self.retry_after: str | None = None
        self.received: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.hits: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self.base = ""

    def subscriber(self) -> Subscriber:
        sub = Subscriber(uuid.uuid4().hex)
        self.subs[sub.id] = sub
        return sub

    def json_for(self, sub: Subscriber) -> dict[str, Any]:
        return {
            "endpoint": f"{self.base}/push/{sub.id}",
            "keys": {"p256dh": b64u(sub.public), "auth": b64u(sub.auth)},
        }

    async def handle(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        status = self.script[sid].pop(0) if self.script[sid] else 201
        self.hits.append((sid, status))
        if status != 201:
            headers = (
                {"Retry-After": self.retry_after}
                if self.retry_after and status in (429, 503)
                else {}
            )
            return web.Response(status=status, headers=headers)
        try:
            assert request.headers.get("Content-Encoding") == "aes128gcm"
            assert int(request.headers["TTL"]) > 0
            verify_vapid(request.headers["Authorization"], self.base, self.vapid_public)
            payload = json.loads(ece_decrypt(await request.read(), self.subs[sid]))
        except Exception as exc:  # recorded and answered like a real service would
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return web.Response(status=400, text=str(exc))
        self.received.append((sid, payload, {k.lower(): v for k, v in request.headers.items()}))
        return web.Response(status=201, headers={"Location": f"{self.base}/msg/{uuid.uuid4().hex}"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push/{sid}", self.handle)
        return app


# --- Twilio ---------------------------------------------------------------------------------


class TwilioPeer:
    """Twilio's Messages API: form-encoded POST, Basic auth, JSON answers; a script of
    statuses (500, 400, "slow") decides the next answers."""

    def __init__(self, sid: str, token: str) -> None:
        self.sid, self.token = sid, token
        self.base = ""
        self.script: list[int | str] = []
        self.sent: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        if (
            request.headers.get("Authorization") != expected
            or request.match_info["sid"] != self.sid
        ):
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        form = dict(await request.post())
        step = self.script.pop(0) if self.script else 201
        if step == "slow":
            await asyncio.sleep(1)
            step = 201
        if step == 400:
            body = {
                "code": 21211,
                "message": f"The 'To' number {form.get('To')} is not valid.",
                "status": 400,
            }
            return web.json_response(body, status=400)
        if step != 201:
            return web.json_response(
                {"code": 20500, "message": "Internal error", "status": step}, status=int(step)
            )
        sid = "SM" + uuid.uuid4().hex
        self.sent.append({k: str(v) for k, v in form.items()})
        return web.json_response(
            {
                "sid": sid,
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "account_sid": self.sid,
                "num_segments": "1",
            },
            status=201,
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.handle)
        return app


# --- Stripe ---------------------------------------------------------------------------------


def _nest(form: dict[str, str]) -> dict[str, Any]:
    """Stripe's form encoding (`metadata[booking_id]=…`) back into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = key.replace("]", "").split("[")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _shown(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as Stripe shows it: without the stand-in's own `_` keys (checkout slice)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


class StripePeer:
    """Stripe's PaymentIntents and Refunds endpoints, idempotent on Idempotency-Key like
    Stripe: the same key answers the same object."""

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.base = ""
        self.intents: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str | None]] = []
        # Checkout Sessions: the sessions, and where pressing Pay on the hosted page posts
        # the signed events (the server's webhook URL and its endpoint secret).
        self.sessions: dict[str, dict[str, Any]] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.deliveries: list[tuple[str, int]] = []
        # Stripe's webhooks may reach the server after the payer is back in the app: a delay
        # here sends them that long after the redirect instead of before it.
        self.webhook_delay_s = 0.0
        self._later: set[asyncio.Task[None]] = set()
        self._init_connect()

    def _auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.secret_key}"

    async def create_intent(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "bad key"}}, status=401
            )
        key = request.headers.get("Idempotency-Key")
        self.requests.append(("payment_intents", key))
        if key and key in self.by_key:
            return web.json_response(self.by_key[key])
        form = _nest({k: str(v) for k, v in (await request.post()).items()})
        pid = "pi_" + uuid.uuid4().hex[:24]
        intent = {
            "id": pid,
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{pid}_secret_{uuid.uuid4().hex[:16]}",
            "metadata": form.get("metadata", {}),
        }
        self.intents[pid] = intent
        if key:
            self.by_key[key] = intent
        return web.json_response(intent)

    async def get_intent(self, request: web.Request) -> web.Response:
        intent = self.intents.get(request.match_info["pid"])
        if intent is None or not self._auth_ok(request):
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "no such"}}, status=404
            )
        return web.json_response(intent)

    async def create_refund(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        self.requests.append(("refunds", key))
        if key and key in self.by_key:
            return web.json_response(self.by_key[key])
        form = _nest({k: str(v) for k, v in (await request.post()).items()})
        refund = {
            "id": "re_" + uuid.uuid4().hex[:24],
            "object": "refund",
            "amount": int(form["amount"]),
            "status": "succeeded",
            "payment_intent": form["payment_intent"],
            "metadata": form.get("metadata", {}),
        }
        self.refunds.append(refund)
        if key:
            self.by_key[key] = refund
        return web.json_response(refund)

    # --- Checkout Sessions and the hosted payment page (checkout slice) ------------------
    async def create_session(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "bad key"}}, status=401
            )
        key = request.headers.get("Idempotency-Key")
        self.requests.append(("checkout_sessions", key))
        if key and key in self.by_key:
            return web.json_response(_shown(self.by_key[key]))
        form = _nest({k: str(v) for k, v in (await request.post()).items()})
        [item] = form["line_items"].values()
        price = item["price_data"]
        sid = "cs_test_" + uuid.uuid4().hex[:24]
        session = {
            "id": sid,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(price["unit_amount"]) * int(item.get("quantity", 1)),
            "currency": price["currency"],
            "description": price["product_data"]["name"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": form.get("metadata", {}),
            "payment_intent": None,  # made when the payer pays, as Stripe does
            "success_url": form["success_url"],
            "cancel_url": form["cancel_url"],
            "url": f"{self.base}/pay/{sid}",
            "_intent_metadata": (form.get("payment_intent_data") or {}).get("metadata", {}),
        }
        self.sessions[sid] = session
        if key:
            self.by_key[key] = session
        return web.json_response(_shown(session))

    async def get_session(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["sid"])
        if session is None or not self._auth_ok(request):
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "no such"}}, status=404
            )
        return web.json_response(_shown(session))

    async def hosted_page(self, request: web.Request) -> web.Response:
        """Stripe's hosted page, reduced to the amount, Pay and Cancel."""
        from html import escape

        from workers.money import format_money

        session = self.sessions.get(request.match_info["sid"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        amount = format_money(session["amount_total"], session["currency"])
        state = (
            "" if session["status"] == "open" else f"<p>This session is {session['status']}.</p>"
        )
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            "<title>Pay — Stripe stand-in</title></head><body>"
            f"<h1>Pay {escape(amount)}</h1><p>{escape(session['description'])}</p>{state}"
            f'<form method=post action="/pay/{session["id"]}">'
            "<button type=submit>Pay</button></form>"
            f'<p><a href="{escape(session["cancel_url"])}">Cancel</a></p></body></html>'
        )
        return web.Response(text=page, content_type="text/html")

    async def pay(self, request: web.Request) -> web.StreamResponse:
        """Pressing Pay: the session completes, its PaymentIntent succeeds, the two signed
        events go to the server's webhook, and the browser goes back to success_url."""
        session = self.sessions.get(request.match_info["sid"])
        if session is None or session["status"] != "open":
            return web.Response(status=409, text="this checkout session is not open")
        pid = "pi_" + uuid.uuid4().hex[:24]
        intent = {
            "id": pid,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "status": "succeeded",
            "metadata": session["_intent_metadata"],
        }
        self.intents[pid] = intent
        session.update(status="complete", payment_status="paid", payment_intent=pid)

        async def send(delay: float) -> None:
            await asyncio.sleep(delay)
            await self.deliver("checkout.session.completed", session)
            await self.deliver("payment_intent.succeeded", intent)

        if self.webhook_delay_s:
            task = asyncio.ensure_future(send(self.webhook_delay_s))
            self._later.add(task)
            task.add_done_callback(self._later.discard)
        else:
            await send(0)
        raise web.HTTPSeeOther(session["success_url"])

    async def deliver(self, kind: str, obj: dict[str, Any]) -> int:
        """POST one signed event to the configured webhook URL; returns the status."""
        import aiohttp

        assert self.webhook_url and self.webhook_secret, "configure webhook_url and secret"
        body = stripe_event(kind, _shown(obj))
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(body, self.webhook_secret),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.webhook_url, data=body, headers=headers) as resp,
        ):
            self.deliveries.append((kind, resp.status))
            return resp.status

    def expire(self, sid: str) -> dict[str, Any]:
        """The session times out (Stripe: after 24 hours by default)."""
        self.sessions[sid]["status"] = "expired"
        return _shown(self.sessions[sid])

    # --- end of the checkout block ---------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/payment_intents", self.create_intent)
        app.router.add_get("/v1/payment_intents/{pid}", self.get_intent)
        app.router.add_post("/v1/refunds", self.create_refund)
        app.router.add_post("/v1/checkout/sessions", self.create_session)  # checkout slice
        app.router.add_get("/v1/checkout/sessions/{sid}", self.get_session)
        app.router.add_get("/pay/{sid}", self.hosted_page)
        app.router.add_post("/pay/{sid}", self.pay)
        self._connect_routes(app)
        return app

    # --- Stripe Connect (the connect slice): Express accounts, onboarding links and the
    # hosted onboarding page, transfers and their reversals, and signed Connect webhooks sent
    # to `webhook_url` (the server's /v1/webhooks/stripe/<slug>) with `webhook_secret`.
    def _init_connect(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.account_links: list[dict[str, Any]] = []
        self.transfers: dict[str, dict[str, Any]] = {}
        # Per idempotency key, the distinct transfers made under it (one, or a double pay).
        self.transfers_by_key: dict[str, set[str]] = defaultdict(set)
        self.reversals: list[dict[str, Any]] = []
        self.connect_requests: list[tuple[str, str | None]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.sent_events: list[dict[str, Any]] = []

    def _connect_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/accounts", self.create_account)
        app.router.add_get("/v1/accounts/{acct}", self.get_account)
        app.router.add_post("/v1/account_links", self.create_account_link)
        app.router.add_get("/connect/onboard/{acct}", self.onboarding_page)
        app.router.add_post("/connect/onboard/{acct}", self.finish_onboarding)
        app.router.add_post("/v1/transfers", self.create_transfer)
        app.router.add_post("/v1/transfers/{tr}/reversals", self.create_reversal)

    def _refused(self, message: str, status: int = 400) -> web.Response:
        error = {"type": "invalid_request_error", "message": message}
        return web.json_response({"error": error}, status=status)

    async def _form(self, request: web.Request, kind: str) -> tuple[str | None, dict[str, Any]]:
        key = request.headers.get("Idempotency-Key")
        self.connect_requests.append((kind, key))
        return key, _nest({k: str(v) for k, v in (await request.post()).items()})

    async def create_account(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._refused("bad key", 401)
        key, form = await self._form(request, "accounts")
        if key and key in self.by_key:
            return web.json_response(self.by_key[key])
        acct = "acct_" + uuid.uuid4().hex[:16]
        account = {
            "id": acct,
            "object": "account",
            "type": form.get("type"),
            "country": form.get("country"),
            "email": form.get("email"),
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements": {"currently_due": ["external_account"], "disabled_reason": None},
            "metadata": form.get("metadata", {}),
        }
        self.accounts[acct] = account
        if key:
            self.by_key[key] = account
        return web.json_response(account)

    async def get_account(self, request: web.Request) -> web.Response:
        account = self.accounts.get(request.match_info["acct"])
        if account is None or not self._auth_ok(request):
            return self._refused("no such account", 404)
        return web.json_response(account)

    async def create_account_link(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._refused("bad key", 401)
        _key, form = await self._form(request, "account_links")
        if form.get("account") not in self.accounts:
            return self._refused("no such account", 404)
        link = {
            "object": "account_link",
            "url": f"{self.base}/connect/onboard/{form['account']}",
            "account": form["account"],
            "type": form.get("type"),
            "return_url": form.get("return_url"),
            "refresh_url": form.get("refresh_url"),
        }
        self.account_links.append(link)
        return web.json_response(link)

    def _return_url(self, acct: str) -> str | None:
        links = [x for x in self.account_links if x["account"] == acct]
        return links[-1]["return_url"] if links else None

    async def onboarding_page(self, request: web.Request) -> web.Response:
        """Stripe's hosted onboarding, reduced to one button."""
        acct = request.match_info["acct"]
        if acct not in self.accounts:
            return web.Response(status=404, text="no such account")
        html = (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width'>"
            "<title>Stripe Express onboarding (local stand-in)</title>"
            f"<main><h1>Set up payouts</h1><p>Account {acct}</p>"
            f"<form method=post action='/connect/onboard/{acct}'>"
            "<button type=submit>Finish</button></form></main></html>"
        )
        return web.Response(text=html, content_type="text/html")

    async def finish_onboarding(self, request: web.Request) -> web.Response:
        """The instructor finished: the account can be charged and paid out, Stripe says so
        by a signed `account.updated`, and the browser goes back to the return_url."""
        acct = request.match_info["acct"]
        account = self.accounts.get(acct)
        if account is None:
            return web.Response(status=404, text="no such account")
        account.update(
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
            requirements={"currently_due": [], "disabled_reason": None},
        )
        await self.send_event("account.updated", dict(account), account=acct)
        raise web.HTTPSeeOther(self._return_url(acct) or "/")

    async def create_transfer(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._refused("bad key", 401)
        key, form = await self._form(request, "transfers")
        if key and key in self.by_key:
            return web.json_response(self.by_key[key])
        destination = form.get("destination")
        if destination not in self.accounts:
            return self._refused(f"No such destination: '{destination}'")
        tid = "tr_" + uuid.uuid4().hex[:24]
        transfer = {
            "id": tid,
            "object": "transfer",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "destination": destination,
            "transfer_group": form.get("transfer_group"),
            "metadata": form.get("metadata", {}),
            "reversed": False,
            "amount_reversed": 0,
        }
        self.transfers[tid] = transfer
        if key:
            self.by_key[key] = transfer
            self.transfers_by_key[key].add(tid)
        return web.json_response(transfer)

    async def create_reversal(self, request: web.Request) -> web.Response:
        if not self._auth_ok(request):
            return self._refused("bad key", 401)
        key, form = await self._form(request, "reversals")
        if key and key in self.by_key:
            return web.json_response(self.by_key[key])
        transfer = self.transfers.get(request.match_info["tr"])
        if transfer is None:
            return self._refused("no such transfer", 404)
        amount = int(form.get("amount") or transfer["amount"] - transfer["amount_reversed"])
        if amount <= 0 or transfer["amount_reversed"] + amount > transfer["amount"]:
            return self._refused("amount exceeds what is left of the transfer")
        reversal = {
            "id": "trr_" + uuid.uuid4().hex[:24],
            "object": "transfer_reversal",
            "amount": amount,
            "transfer": transfer["id"],
            "metadata": form.get("metadata", {}),
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        self.reversals.append(reversal)
        if key:
            self.by_key[key] = reversal
        return web.json_response(reversal)

    async def send_event(
        self, kind: str, obj: dict[str, Any], account: str | None = None
    ) -> dict[str, Any]:
        """Deliver a signed event to the server's webhook, as Stripe does; its answer."""
        assert self.webhook_url and self.webhook_secret, "set webhook_url and webhook_secret"
        event = json.loads(stripe_event(kind, obj))
        if account:
            event["account"] = account
        body = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(body, self.webhook_secret),
        }
        async with aiohttp.ClientSession() as http:
            async with http.post(self.webhook_url, data=body, headers=headers) as resp:
                answer = {"status": resp.status, "body": await resp.json(content_type=None)}
        self.sent_events.append({"event": event, "answer": answer})
        return answer


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header made the way Stripe makes it: HMAC-SHA256 of
    "<timestamp>.<body>" with the endpoint secret, as `t=…,v1=…`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "api_version": "2024-06-20",
    }
    return json.dumps(event).encode()
