"""A one-shot command loads its own module, not every command's: `client list` answers without
numpy, aiohttp, APScheduler or pymorphy3 (the knowledge base, serving and the scheduler load
them where they are built)."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

from gateway.cli import COMMAND_MODULES, build_parser

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "aiohttp", "apscheduler", "pymorphy3", "aiogram", "openai")


def test_each_command_is_mapped_to_the_module_that_registers_it() -> None:
    registered: dict[str, str] = {}
    for module in dict.fromkeys(COMMAND_MODULES.values()):
        commands = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"gateway.{module}").register(commands)
        registered.update(dict.fromkeys(commands.choices, module))
    assert registered == COMMAND_MODULES


def test_a_command_s_parser_holds_it_and_the_whole_parser_every_command() -> None:
    def choices(parser: argparse.ArgumentParser) -> set[str]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(action.choices)

    assert choices(build_parser("client")) == {"serve", "migrate", "client", "branch", "prompt"}
    assert choices(build_parser("migrate")) == {"serve", "migrate"}
    assert choices(build_parser()) == {"serve", "migrate", *COMMAND_MODULES}
    assert choices(build_parser("no-such-command")) == choices(build_parser())
    args = build_parser("client").parse_args(["client", "show", "salon"])
    assert (args.command, args.client_command, args.slug) == ("client", "show", "salon")


def loaded_after(code: str, modules: tuple[str, ...], env: dict[str, str] | None = None
                 ) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `code`."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in {modules!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True, env=env).stdout
    return json.loads(out.splitlines()[-1])


def test_client_commands_and_the_core_system_load_none_of_the_heavy_parts() -> None:
    code = ("from gateway.cli import build_parser\n"
            "build_parser('client').parse_args(['client', 'list'])\n"
            "import gateway.wiring, gateway.tenant_cli")
    assert loaded_after(code, HEAVY) == []


def test_the_knowledge_base_without_a_re_ranker_loads_no_chat_model_nor_desk(
        tmp_path: Path) -> None:
    """`knowledge list` and its kin open the knowledge base: the OpenAI SDK (~0.4 s to import)
    loads only with a re-ranker or an LLM configured, aiogram and APScheduler never."""
    code = ("import asyncio\n"
            "from gateway.settings import Settings\n"
            "from gateway.wiring import open_knowledge\n"
            "async def main():\n"
            "    kb = await open_knowledge(Settings())\n"
            "    await kb.aclose()\n"
            "asyncio.run(main())")
    environment = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path),
                   "EMBEDDINGS_PROVIDER": "local"}
    assert loaded_after(code, ("openai", "aiogram", "apscheduler"), environment) == []
