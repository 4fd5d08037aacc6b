"""A merchant's webhook handler as a Starlette app, for `carbonc run --app asgi_app:app`: it
verifies Razorpay signatures with the official SDK and answers 400 to anything that fails."""

from __future__ import annotations

import razorpay
import razorpay.errors
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET = "app-secret"
_client = razorpay.Client(auth=("key", "secret"))


async def razorpay_webhook(request: Request) -> JSONResponse:
    body = (await request.body()).decode()
    signature = request.headers.get("X-Razorpay-Signature", "")
    try:
        _client.utility.verify_webhook_signature(body, signature, SECRET)
    except razorpay.errors.SignatureVerificationError:
        return JSONResponse({"error": "bad signature"}, status_code=400)
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/hooks/razorpay", razorpay_webhook, methods=["POST"])])
