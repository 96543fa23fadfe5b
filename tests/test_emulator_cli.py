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
from station.emulator import Emulator
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


def test_a_strict_emulator_with_a_fault_from_the_command_line() -> None:
    command = [sys.executable, "-m", "station", "emulator", "--profile", "strict", "--client-id", "kiosk"]
    command += ["--fault", "latency_s=0.01", "--fault", "tp_id_claim_clients="]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        switches = process.stdout.readline()
        assert switches.startswith("profile strict; fault switches: {")
        assert '"refresh_token_clients": "kiosk"' in switches and '"tp_id_claim_clients": ""' in switches
        assert '"latency_s": 0.01' in switches and '"print_error_code": 804' in switches
        assert httpx.get(f"{url}/_emulator/faults").json()["shared_tp_id"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_faults_sets_switches_of_a_running_emulator(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert (
        main(["emulator", "faults", "--url", emulator.url, "shared_tp_id=true", "print_error_code=804"]) == 0
    )
    out = capsys.readouterr().out
    assert "shared_tp_id = true" in out and "print_error_code = 804" in out and "offline = false" in out
    assert emulator.faults.shared_tp_id and emulator.faults.print_error_code == 804
    assert main(["emulator", "faults", "--url", emulator.url, "refresh_token_clients=kiosk,tablet"]) == 0
    assert emulator.faults.refresh_token_clients == "kiosk,tablet"
    assert main(["emulator", "faults", "--url", emulator.url, "no-equals-sign"]) == 1
    assert main(["emulator", "faults", "--url", emulator.url, "explode=true"]) == 1
    assert "unknown fault" in caplog.text


def test_a_strict_profile_needs_the_station_client_id(caplog: pytest.LogCaptureFixture) -> None:
    assert main(["emulator", "--profile", "strict"]) == 1
    assert "client id" in caplog.text
    assert main(["emulator", "--client-id", "kiosk"]) == 1
    assert "--client-id is for --profile strict" in caplog.text
