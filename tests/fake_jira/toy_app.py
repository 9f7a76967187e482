"""A minimal Connect app with no framework, to test fake_jira end to end without Django.

It verifies what it receives with PyJWT and atlassian-jwt (not with fake_jira's code, so a bug in fake_jira's
signing cannot hide behind the same bug in the check), and calls Jira's REST API through `requests`, as a
real app does. It is strict but small: not a reference, only a counterpart for the simulator.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import jwt
import requests
from atlassian_jwt.url_utils import hash_url

from fake_jira.messages import Response

APP_KEY = "toy-connect-app"
BASE_URL = "https://toy-app.example.com/toy"
BASE_PATH = "/toy"
DESCRIPTOR_PATH = "/toy/atlassian-connect.json"


def toy_descriptor() -> dict:
    return {
        "key": APP_KEY,
        "name": "Toy app",
        "baseUrl": BASE_URL,
        "authentication": {"type": "jwt"},
        "apiMigrations": {"signed-install": True, "context-qsh": True},
        "lifecycle": {
            "installed": "/installed",
            "uninstalled": "/uninstalled",
            "enabled": "/enabled",
            "disabled": "/disabled",
        },
        "scopes": ["READ"],
        "modules": {
            "generalPages": [{"key": "hello", "name": {"value": "Hello"}, "url": "/hello?project={project.key}"}],
            "webhooks": [{"event": "jira:issue_created", "url": "/webhooks/issue-created"}],
        },
    }


def app_token(secret, method, path_and_query, *, issuer=APP_KEY, lifetime=180, algorithm="HS256", **claims):
    """A token as a Connect app signs its REST calls (docs/protocol.md §6): qsh of the path relative to the site."""
    now = int(time.time())
    payload = {"iss": issuer, "iat": now, "exp": now + lifetime, "qsh": hash_url(method, path_and_query), **claims}
    return jwt.encode(payload, secret, algorithm=algorithm)


class Refused(Exception):
    pass


@dataclass
class Tenant:
    base_url: str
    shared_secret: str
    active: bool = True


@dataclass
class ToyApp:
    """Implements fake_jira's AppTransport by answering the request itself."""

    keys_url: str
    tenants: dict[str, Tenant] = field(default_factory=dict)
    webhooks: list[tuple[str, str, dict]] = field(default_factory=list)
    descriptor: dict = field(default_factory=toy_descriptor)

    @property
    def base_url(self) -> str:
        return self.descriptor["baseUrl"]

    def send(self, method, target, *, headers, body=b""):
        route = target.partition("?")[0].removeprefix(BASE_PATH)
        try:
            if route == "/atlassian-connect.json":
                return Response.from_json(200, self.descriptor)
            if route in ("/installed", "/uninstalled"):
                return self._signed_install(route, method, target, headers, json.loads(body))
            claims = self._verify_hs256(method, target, headers, context=route == "/api/whoami")
            tenant = self.tenants[claims["iss"]]
            if route in ("/enabled", "/disabled"):
                tenant.active = route == "/enabled"
                return Response(204)
            if not tenant.active:
                raise Refused("tenant inactive")
            if route == "/hello":
                return self._hello(tenant)
            if route == "/api/whoami":
                return Response.from_json(200, {"clientKey": claims["iss"], "accountId": claims.get("sub")})
            if route == "/webhooks/issue-created":
                self.webhooks.append(
                    (headers["X-Atlassian-Webhook-Identifier"], headers["X-Atlassian-Webhook-Retry"], json.loads(body))
                )
                return Response(204)
            return Response(404)
        except (Refused, jwt.PyJWTError, KeyError) as exc:
            return Response.from_text(401, f"{type(exc).__name__}: {exc}")

    def _token(self, target, headers):
        auth = headers.get("Authorization", "")
        if auth.startswith("JWT "):
            return auth[4:]
        for pair in target.partition("?")[2].split("&"):
            if pair.startswith("jwt="):
                return pair[4:]
        raise Refused("no token")

    def _expected_qsh(self, method, target):
        return hash_url(method, target.removeprefix(BASE_PATH))

    def _signed_install(self, route, method, target, headers, payload):
        token = self._token(target, headers)
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str) or "/.." in "/" + header["kid"]:
            raise Refused("not a signed install")
        key = requests.get(f"{self.keys_url}/{quote(header['kid'], safe='/')}", timeout=5)
        if key.status_code != 200:
            raise Refused(f"key service answered {key.status_code}")
        claims = jwt.decode(
            token,
            key.text,
            algorithms=["RS256"],
            audience=self.base_url,
            options={"require": ["exp", "iat", "qsh", "iss"]},
        )
        if claims["iss"] != payload["clientKey"] or claims["qsh"] != self._expected_qsh(method, target):
            raise Refused("iss or qsh")
        if route == "/installed":
            self.tenants[payload["clientKey"]] = Tenant(payload["baseUrl"], payload["sharedSecret"])
        else:
            self.tenants[payload["clientKey"]].active = False
        return Response(204)

    def _verify_hs256(self, method, target, headers, *, context):
        token = self._token(target, headers)
        issuer = jwt.decode(token, options={"verify_signature": False})["iss"]
        claims = jwt.decode(
            token,
            self.tenants[issuer].shared_secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iat", "qsh", "iss"]},
        )
        allowed = {"context-qsh"} if context else {self._expected_qsh(method, target)}
        if claims["qsh"] not in allowed:
            raise Refused("qsh")
        return claims

    def _hello(self, tenant):
        path = "/rest/api/3/project/search?maxResults=20"
        token = app_token(tenant.shared_secret, "GET", path)
        found = requests.get(tenant.base_url + path, headers={"Authorization": f"JWT {token}"}, timeout=5)
        if found.status_code != 200:
            return Response.from_text(502, f"REST call answered {found.status_code}: {found.text}")
        return Response.from_json(200, {"projects": [p["key"] for p in found.json()["values"]]})


class _ToyAppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        response = self.server.app.send(self.command, self.path, headers=dict(self.headers.items()), body=body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = _answer

    def log_message(self, format, *args):
        pass


@contextmanager
def served_over_http(app):
    """The toy app on a loopback port, its baseUrl there (where Jira sends everything); yields its root URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ToyAppHandler)
    server.daemon_threads = True
    server.app = app
    app.descriptor = {**app.descriptor, "baseUrl": f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"}
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
