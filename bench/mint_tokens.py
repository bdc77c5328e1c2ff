#!/usr/bin/env python3
"""Mints access tokens for benchmark accounts without logging each one in.

    psql -AtqX -F' ' -c "select user_id, role, s.id from ..." | mint_tokens.py SECRET TTL_SECONDS

Reads `<user id> <role> <session id>` lines and prints one HS256 access token
per line, with the claims coffee-api issues (sub, role, sid, exp, iat, jti,
typ=access). The session must be a live row of `sessions` (coffee-api checks
it on every request); bench/chat.sh inserts one per account. Logging
10 000 sockets' owners in through POST /auth/login would cost 10 000 Argon2
hashes (about two minutes on two cores) and measure the hashing, not the chat.
Standard library only.
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    secret, ttl = sys.argv[1].encode(), int(sys.argv[2])
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    now = int(time.time())
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            sys.exit(f"expected `<user id> <role> <session id>`, got {line!r}")
        user_id, role, sid = parts
        claims = {
            "sub": user_id,
            "role": role,
            "sid": sid,
            "exp": now + ttl,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "typ": "access",
        }
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        print(f"{header}.{payload}.{signature}")


if __name__ == "__main__":
    main()
