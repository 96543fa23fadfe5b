#!/usr/bin/python3
"""Boot test only: node_exporter from the guest itself, as Prometheus and as a stranger would.

    metrics-client.py scrape    the metrics page over TLS with the right password
    metrics-client.py access    "plain=... wrong_password=... right_password=..." (served or refused),
                                then "statuses=..." (the HTTP status of each, 0: no HTTP answer)

The certificate and the password were put next to this file by run_qemu.py; TLS is verified
against that certificate.
"""

import base64
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
URL = "127.0.0.1:9100/metrics"


def fetch(scheme: str, password: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"{scheme}://{URL}")  # noqa: S310 (http or https, from this file)
    if password is not None:
        token = base64.b64encode(f"prometheus:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=str(HERE / "node-exporter.crt"))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as reply:  # noqa: S310
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, ssl.SSLError) as exc:
        return 0, str(exc)


def served(status: int, page: str) -> str:
    return "served" if status == 200 and "node_exporter_build_info" in page else "refused"


def main() -> int:
    password = (HERE / "node-exporter.password").read_text().strip()
    if sys.argv[1:] == ["scrape"]:
        status, page = fetch("https", password)
        print(page if status == 200 else "")
        return 0
    answers = [fetch("http", password), fetch("https", password + "-wrong"), fetch("https", password)]
    plain, wrong, right = (served(*answer) for answer in answers)
    statuses = "/".join(str(status) for status, _ in answers)
    print(f"plain={plain} wrong_password={wrong} right_password={right} statuses={statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
