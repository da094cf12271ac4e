"""The nightly backup as shipped: the compose `backup` profile and the systemd timer run
`python -m gateway backup` with retention, and the command they run parses."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from gateway.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_backup_service_runs_the_backup_nightly_with_retention() -> None:
    service = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))["services"]["backup"]
    assert service["profiles"] == ["backup"]
    script = service["command"][-1]
    assert "python -m gateway backup /backups --keep" in script and "sleep" in script
    assert service["volumes"] == ["./backups:/backups"]
    assert "postgres:5432/truffles" in service["environment"]["DATABASE_URL"]


def test_the_systemd_timer_starts_the_backup_service_every_night() -> None:
    timer = configparser.ConfigParser(strict=False)
    timer.read(ROOT / "deploy" / "systemd" / "truffles-backup.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:00:00"
    assert timer["Timer"]["Unit"] == "truffles-backup.service"
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.read(ROOT / "deploy" / "systemd" / "truffles-backup.service")
    command = service["Service"]["ExecStart"].split()
    assert command[1:4] == ["-m", "gateway", "backup"] and service["Service"]["Type"] == "oneshot"
    args = build_parser().parse_args(command[3:])
    assert args.directory == Path("/var/backups/truffles") and args.keep == 14
