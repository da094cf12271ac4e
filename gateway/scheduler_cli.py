"""`python -m gateway heal`: run the invariant self-heal once and report each repair, and queue
again the cards of requests pending without one (HEAL_CARDLESS_MINUTES)."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

from gateway.settings import Settings
from gateway.wiring import build_system
from scheduler.jobs import card_heal_pass, heal_pass


async def heal(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        report = await heal_pass(system.scheduler_ports)
        cards = await card_heal_pass(system.scheduler_ports,
                                     timedelta(minutes=settings.heal_cardless_minutes))
    report.failed += cards.failed
    repairs = [{"kind": r.kind, "fix": r.fix, "client_id": str(r.client_id),
                "conversation_id": str(r.conversation_id),
                "handover_id": str(r.handover_id) if r.handover_id else None,
                "old_state": r.old_state, "new_state": r.new_state} for r in report.repairs]
    if args.json:
        document: dict[str, Any] = {"repaired": len(repairs), "failed": report.failed,
                                    "repairs": repairs, "cards_requeued": cards.cards_requeued}
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        for r in repairs:
            print(f"repaired {r['kind']}: conversation {r['conversation_id']} "
                  f"{r['old_state']} -> {r['new_state']} ({r['fix']})")
        if cards.cards_requeued:
            print(f"queued again the card of {cards.cards_requeued} request(s) that had none")
        print(f"{len(repairs)} repaired, {report.failed} failed" if repairs or report.failed
              else "all conversations are consistent")
    return 1 if report.failed else 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("heal", help="run the invariant self-heal once and report")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=heal)
