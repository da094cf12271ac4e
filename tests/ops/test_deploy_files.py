"""The deployment files agree with the code: `.env.example` lists exactly the settings the
gateway reads (and the variables compose.yaml needs); compose.yaml has health checks and
restart policies everywhere, lets the gateway start without its optional services, keeps n8n
and the gateway's port private; the Caddyfile and the nginx snippet expose exactly the public
routes of the app. (`docker compose config` is not needed: these read the files.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gateway.app import create_app
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_ROUTES = {"/webhook", "/webhook/{client_slug}", "/telegram-webhook/{client_slug}",
                 "/media/{token}"}
PRIVATE_ROUTES = {"/health", "/db-check", "/ready", "/metrics", "/message", "/callback",
                  "/reminders/process", "/admin"}
PRIVATE_SAMPLES = ["/admin/clients", "/admin/clients/salon/doctor",
                   "/admin/knowledge/salon/documents/main", "/", "/anything", "/webhooks",
                   "/mediax/1"]
ENTRY = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
OPTIONAL_SERVICES = {"qdrant", "bge-m3"}


def sample(route: str) -> str:
    return re.sub(r"\{[^}]+\}", "abc123", route)


# --- .env.example ---------------------------------------------------------------------------


def env_example() -> tuple[dict[str, tuple[bool, str]], dict[str, tuple[bool, str]]]:
    """(gateway entries, compose-only entries): name → (commented out, value)."""
    gateway: dict[str, tuple[bool, str]] = {}
    compose: dict[str, tuple[bool, str]] = {}
    target = gateway
    for line in (ROOT / ".env.example").read_text("utf-8").splitlines():
        if line.startswith("# ---") and "compose.yaml only" in line:
            target = compose
        elif match := ENTRY.match(line):
            assert match.group(2) not in gateway | compose, f"{match.group(2)} twice"
            target[match.group(2)] = (bool(match.group(1)), match.group(3))
    return gateway, compose


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    gateway, _ = env_example()
    assert set(gateway) == {name.upper() for name in Settings.model_fields}


def test_env_example_shows_the_real_defaults_and_no_secret() -> None:
    gateway, compose_only = env_example()
    for name, (commented, value) in gateway.items():
        field = name.lower()
        if commented:  # a shown default must be the default
            parsed = Settings(_env_file=None, **{field: value})
            assert getattr(parsed, field) == Settings.model_fields[field].default, name
        else:  # to fill in: empty, never a secret
            assert value == "", name
    assert all(value == "" for _, value in compose_only.values())


def test_env_example_names_the_variables_compose_reads() -> None:
    _, compose_only = env_example()
    text = (ROOT / "compose.yaml").read_text("utf-8")
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    settings = {name.upper() for name in Settings.model_fields}
    assert set(compose_only) == interpolated - settings
    assert interpolated - settings - set(compose_only) == set()


# --- compose.yaml ---------------------------------------------------------------------------


def test_every_service_has_a_healthcheck_and_restarts() -> None:
    for name, service in compose()["services"].items():
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), name
        image = service.get("image")
        if image:  # pinned, never a moving tag
            assert ":" in image and not image.endswith(":latest"), name


def test_the_gateway_waits_only_for_postgresql() -> None:
    gateway = compose()["services"]["gateway"]
    conditions = {name: dep["condition"] for name, dep in gateway["depends_on"].items()}
    assert conditions.pop("postgres") == "service_healthy"
    assert set(conditions) == OPTIONAL_SERVICES
    assert set(conditions.values()) == {"service_started"}
    assert gateway["ports"] == ["127.0.0.1:8000:8000"]
    assert "profiles" not in gateway
    # the embedder may take minutes on its first start: its health has time to come
    assert compose()["services"]["bge-m3"]["healthcheck"]["start_period"] in ("15m", "900s")


def test_n8n_runs_only_in_the_knowledge_sync_profile_on_localhost() -> None:
    services = compose()["services"]
    assert services["n8n"]["profiles"] == ["knowledge-sync"]
    assert all(p.startswith("127.0.0.1:") for p in services["n8n"]["ports"])
    assert "n8n_data:/home/node/.n8n" in services["n8n"]["volumes"]
    assert [n for n, s in services.items() if "profiles" in s] == ["n8n", "backup"]


def test_the_proxy_publishes_80_and_443_only() -> None:
    proxy = compose()["services"]["proxy"]
    published = {re.sub(r"/(tcp|udp)$", "", p).split(":")[0] for p in proxy["ports"]}
    targets = {re.sub(r"/(tcp|udp)$", "", p).split(":")[-1] for p in proxy["ports"]}
    assert published == targets == {"80", "443"}
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    others = {n for n, s in compose()["services"].items() if n != "proxy"}
    for name in others:  # nothing else is reachable from outside the machine
        for port in compose()["services"][name].get("ports", []):
            assert port.startswith("127.0.0.1:"), name


# --- the public routes ----------------------------------------------------------------------


def app_routes(settings: Settings) -> set[str]:
    return {resource.canonical for resource in create_app(settings).router.resources()}


def test_the_app_routes_are_all_classified(settings: Settings) -> None:
    # A new route must be declared public (and added to both proxies) or private.
    assert app_routes(settings) == PUBLIC_ROUTES | PRIVATE_ROUTES


def caddy_exposed(path: str) -> bool:
    text = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text("utf-8")
    (patterns,) = re.findall(r"^\s*@public path (.+)$", text, re.MULTILINE)
    assert re.search(r"handle @public \{.*?reverse_proxy gateway:8000", text, re.DOTALL)
    assert re.search(r"handle \{\s*respond 404\s*\}", text)
    return any(path.startswith(p[:-1]) if p.endswith("*") else path == p
               for p in patterns.split())


def nginx_locations() -> list[tuple[str, str, str]]:
    """(modifier, path, body) of each location of the HTTPS server."""
    text = (ROOT / "deploy" / "nginx" / "truffles.conf").read_text("utf-8")
    servers = re.split(r"^server \{", text, flags=re.MULTILINE)[1:]
    (https,) = [s for s in servers if re.search(r"listen 443 ssl;", s)]
    for plain in (s for s in servers if s is not https):
        assert "proxy_pass" not in plain  # port 80 only redirects (and answers ACME)
    return re.findall(r"location\s+(=?)\s*(\S+)\s*\{([^{}]*)\}", https)


def nginx_exposed(path: str) -> bool:
    """nginx's choice: an exact match first, else the longest prefix."""
    locations = nginx_locations()
    exact = [body for modifier, where, body in locations if modifier == "=" and where == path]
    if exact:
        body = exact[0]
    else:
        prefixes = [(where, body) for modifier, where, body in locations
                    if not modifier and path.startswith(where)]
        body = max(prefixes, key=lambda p: len(p[0]))[1]
    if "proxy_pass http://truffles_gateway;" in body:
        return True
    assert "return 404;" in body
    return False


@pytest.mark.parametrize("exposed", [caddy_exposed, nginx_exposed], ids=["caddy", "nginx"])
def test_the_proxies_expose_the_public_routes_only(exposed) -> None:
    for route in PUBLIC_ROUTES:
        assert exposed(sample(route)), route
    for route in [*PRIVATE_ROUTES, *PRIVATE_SAMPLES]:
        assert not exposed(sample(route)), route
