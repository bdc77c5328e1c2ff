"""Drives a running coffee-api with the client openapi-python-client generated
from its /openapi.json, unpatched: sign up, verify with the code from the
mail, log in (JSON and the OAuth2 form), read /me, and an admin write.

Usage: python drive_python.py CLIENT_DIR BASE_URL SERVER_LOG ADMIN_EMAIL ADMIN_PASSWORD
CLIENT_DIR holds the generated package `coffee_client`.
"""

import json
import re
import sys
import time
import uuid

client_dir, base_url, server_log, admin_email, admin_password = sys.argv[1:6]
sys.path.insert(0, client_dir)

from coffee_client import AuthenticatedClient, Client  # noqa: E402
from coffee_client.api.auth import login, signup, verify  # noqa: E402
from coffee_client.api.menu import create_category, get_category  # noqa: E402
from coffee_client.api.users import get_me, update_me  # noqa: E402
from coffee_client.models import (  # noqa: E402
    CategoryDto,
    CategoryRequest,
    LoginForm,
    LoginRequest,
    SignupRequest,
    TokenDto,
    UpdateMeRequest,
    UserDto,
    VerifyWithCode,
)
from coffee_client.types import UNSET  # noqa: E402


def fail(message):
    print(f"drive_python: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(response, status, model):
    """The parsed body of a response that must have `status` and be a `model`."""
    if response.status_code != status or not isinstance(response.parsed, model):
        fail(f"expected {status} {model.__name__}, got {response.status_code}: {response.content[:500]!r}")
    return response.parsed


def verification_code(email, timeout=30.0):
    """The code of the verification mail the embedded profile logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(server_log, encoding="utf-8", errors="replace") as log:
            for line in log:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("to") == email:
                    found = re.search(r"enter this code:\s*(\d{6})", event.get("message", ""))
                    if found:
                        return found.group(1)
        time.sleep(0.5)
    fail(f"no verification mail to {email} in {server_log}")


public = Client(base_url=base_url, raise_on_unexpected_status=True)
email = f"py-{uuid.uuid4().hex[:12]}@example.com"
password = "correct horse battery"

# Sign up: the answer has `verified_at: null` and no names.
user = expect(signup.sync_detailed(client=public, body=SignupRequest(email=email, password=password)), 201, UserDto)
if user.email != email or user.is_verified or user.verified_at is not None:
    fail(f"unexpected new user {user.to_dict()}")
print(f"drive_python: signed up {email} (verified_at={user.verified_at})")

# Verify with the code from the mail.
code = verification_code(email)
user = expect(verify.sync_detailed(client=public, body=VerifyWithCode(email=email, code=code)), 200, UserDto)
if not user.is_verified or user.verified_at is None:
    fail(f"not verified: {user.to_dict()}")
print(f"drive_python: verified with code {code}")

# Log in with JSON, then with the OAuth2 form.
tokens = expect(login.sync_detailed(client=public, body=LoginRequest(email=email, password=password)), 200, TokenDto)
form_tokens = expect(login.sync_detailed(client=public, body=LoginForm(username=email, password=password)), 200, TokenDto)
if tokens.token_type != "bearer" or not form_tokens.access_token:
    fail("login did not return bearer tokens")
print("drive_python: logged in (JSON and form)")

me_client = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
me = expect(get_me.sync_detailed(client=me_client), 200, UserDto)
if me.id != user.id or me.email != email:
    fail(f"/me is someone else: {me.to_dict()}")
me = expect(update_me.sync_detailed(client=me_client, body=UpdateMeRequest(first_name="Ann", phone=None)), 200, UserDto)
if me.first_name != "Ann" or me.phone is not None or me.last_name not in (None, UNSET):
    fail(f"PATCH /me did not apply: {me.to_dict()}")
print(f"drive_python: GET and PATCH /me as {me.email}")

# An admin write: a category, read back.
admin_tokens = expect(
    login.sync_detailed(client=public, body=LoginRequest(email=admin_email, password=admin_password)), 200, TokenDto
)
admin = AuthenticatedClient(base_url=base_url, token=admin_tokens.access_token, raise_on_unexpected_status=True)
name = f"Python drinks {uuid.uuid4().hex[:8]}"
category = expect(create_category.sync_detailed(client=admin, body=CategoryRequest(name=name)), 201, CategoryDto)
again = expect(get_category.sync_detailed(category.id, client=public), 200, CategoryDto)
if again.name != name or again.description is not None:
    fail(f"category read back differs: {again.to_dict()}")
print(f"drive_python: admin created category {category.id}")
print("drive_python: OK")
