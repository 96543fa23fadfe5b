"""``release-station emulator``: runs until SIGTERM; ``add-job`` adds a job through the admin API."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from station.cli import main
from station.emulator.model import SEED_PRINTERS

ROOT = Path(__file__).resolve().parent.parent


def test_runs_until_sigterm_and_takes_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    printer = SEED_PRINTERS[1]
    command = [sys.executable, "-m", "station", "emulator", "--job-duration", "0.5"]
    command += ["--auto-approve-device", printer.id]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(12)]
        url = next(line.split()[-1] for line in lines if "listening on" in line)
        assert url.startswith("http://127.0.0.1:")
        printed = "".join(lines)
        assert "password: demo" in printed
        assert printer.id in printed

        assert (
            main(
                [
                    "emulator",
                    "add-job",
                    "--url",
                    url,
                    "margaret.hamilton@example.com",
                    "Poster.pdf",
                    "--pages",
                    "3",
                ]
            )
            == 0
        )
        assert "added job" in capsys.readouterr().out
        assert main(["emulator", "add-job", "--url", url, "nobody@example.com"]) == 1

        oauth = httpx.Client(base_url=url, auth=("cli-test", ""))
        code = oauth.post("/oauth/pair/", data={"mode": "device", "hardware_id": "hw-cli"}).json()[
            "pairing_code"
        ]
        tokens = oauth.post(
            "/oauth/access_token/", data={"grant_type": "pairing_code", "pairing_code": code}
        ).json()
        users = httpx.get(
            f"{url}/printing/v1/users/",
            params={"email": "margaret.hamilton@example.com"},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ).json()["results"]
        jobs = httpx.get(
            f"{url}/printing/v1/printjobs/",
            params={"status": "INQUEUE", "user": users[0]["id"]},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ).json()["results"]
        assert [(j["name"], j["pages"]) for j in jobs] == [("Poster.pdf", 3)]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "emulator stopped" in process.stdout.read()


def test_add_job_reports_an_unreachable_emulator(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["emulator", "add-job", "--url", f"http://127.0.0.1:{port}", "a@example.com"]) == 1
    assert "cannot reach the emulator" in caplog.text


def test_unknown_auto_approve_printer_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    assert main(["emulator", "--auto-approve-device", "no-such-printer"]) == 1
    assert "no printer" in caplog.text
