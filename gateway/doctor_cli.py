"""`python -m gateway doctor [SLUG] [--json]`: one line per check with its status and, when it
fails, how to fix it; exit 0 only when every check passes (1 otherwise)."""

from __future__ import annotations

import argparse
import json

from core.doctor import Check, Status, all_pass
from gateway.settings import Settings
from gateway.wiring import open_doctor


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        scope = "" if check.scope == "global" else check.scope
        lines.append(f"{check.status.upper():<4}  {scope:<16} {check.name:<22} {check.detail}")
        if check.status == Status.FAIL and check.hint:
            lines.append(f"{'':<6}fix: {check.hint}")
    bad = sum(c.status == Status.FAIL for c in checks)
    lines.append(f"{bad} of {len(checks)} checks fail" if bad else
                 f"all {len(checks)} checks pass" + (
                     f" ({sum(c.status == Status.SKIP for c in checks)} skipped)"
                     if any(c.status == Status.SKIP for c in checks) else ""))
    return "\n".join(lines)


async def doctor(args: argparse.Namespace, settings: Settings) -> int:
    async with open_doctor(settings) as runner:
        checks = await runner.run(args.slug)
    ok = all_pass(checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks]},
                         ensure_ascii=False, indent=2))
    else:
        print(render(checks))
    return 0 if ok else 1


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "doctor", help="check the deployment and its clients (exit 0 when all pass)")
    parser.add_argument("slug", nargs="?", help="check only this client (default: every "
                        "active client)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=doctor)
