"""`python -m gateway eval decisions [--split dev|held-out] [--json] [--calibrate] [--cache FILE]
[--ship-example-vectors]`:
the decision layer measured on the labelled set with the configured embedder
(EMBEDDINGS_PROVIDER), the default policy and no LLM. No database is needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ai.embedding_cache import CachedEmbedder
from ai.embeddings import build_embedder, check_embedder
from core.calibration import thresholds_for
from core.semantic import SHARED_VECTORS
from gateway.decision_calibration import calibrate
from gateway.decision_eval import (
    SHIPPED_EXAMPLE_VECTORS,
    SPLITS,
    PreloadedEmbedder,
    load_set,
    run_decisions,
)
from gateway.decision_report import format_report, report
from gateway.settings import Settings
from storage.vector_archive import FileVectorArchive


def register(subparsers: Any) -> None:
    evaluation = subparsers.add_parser("eval", help="measure the gateway on labelled sets")
    sets = evaluation.add_subparsers(dest="eval_set", required=True, metavar="SET")
    decisions = sets.add_parser(
        "decisions", help="who needs a person: accuracy, escalation precision / recall / F1, errors")
    decisions.add_argument("--split", choices=SPLITS, help="one split (default: both)")
    decisions.add_argument("--json", action="store_true", help="print one JSON document")
    decisions.add_argument("--calibrate", action="store_true",
                           help="first choose the semantic thresholds on the dev split, then use them")
    decisions.add_argument("--cache", type=Path, metavar="FILE",
                           help="keep the embeddings in FILE between runs (.npz; the tests use "
                                "knowledge/eval/decisions/vectors.local-e5-small-384.npz)")
    decisions.add_argument("--ship-example-vectors", action="store_true",
                           help="write the embedder's vectors of the default examples and the "
                                "corpus into knowledge/eval/decisions/example-vectors (read at "
                                "start before computing them; renew after changing them)")
    decisions.set_defaults(handler=eval_decisions)


async def eval_decisions(args: argparse.Namespace, settings: Settings) -> int:
    embedder = build_embedder(settings.embeddings)
    if args.cache:
        embedder = CachedEmbedder(embedder, args.cache)
    try:
        await check_embedder(embedder)
        preloaded = PreloadedEmbedder(embedder)  # dev messages embedded once for both passes
        if args.ship_example_vectors:
            _ship_example_vectors_of_this_run()
        thresholds = None
        if args.calibrate:
            chosen = await calibrate(preloaded, load_set("dev"))
            thresholds = chosen.thresholds
            print(f"calibrated on dev for {embedder.name}: escalate={thresholds.escalate:.3f} "
                  f"overrule={thresholds.overrule:.3f} clear={thresholds.clear:.3f}; out of fold: "
                  f"recall {chosen.recall:.3f}, false escalations {chosen.false_escalations:.3f}, "
                  f"false mutes {chosen.false_mutes}; under clear (no LLM asked): "
                  f"{chosen.replies_without_llm:.3f} of the reply messages the LLM was asked about, "
                  f"{chosen.missed_without_llm:.4f} of those needing a person or a mute; to keep "
                  "them, add them to core/calibration.py CALIBRATED", file=sys.stderr)
        messages = load_set(args.split)
        outcomes = await run_decisions(preloaded, messages, thresholds)
    finally:
        await embedder.aclose()
    data = report(outcomes, split=args.split or "all", embedder=embedder.name,
                  thresholds=thresholds or thresholds_for(embedder.name))
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else format_report(data))
    return 0


def _ship_example_vectors_of_this_run() -> None:
    """The run's example indexes are written into the shipped directory, emptied first (only
    the current keys stay: a stale file would never be read again)."""
    for stale in SHIPPED_EXAMPLE_VECTORS.glob("*.npy"):
        stale.unlink()
    SHARED_VECTORS.keep_in(FileVectorArchive(SHIPPED_EXAMPLE_VECTORS))
