"""`roost dkim generate` as an operator runs it: a real process, the key on disk, the DNS record."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from roost.mail import DkimKeyring
from tests.mail.test_compose import compiled, recipient
from tests.mail.test_dkim import verifies

pytestmark = pytest.mark.e2e


def roost(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roost", *args],
        env={**os.environ, "ROOST_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_generate_writes_a_private_key_that_signs_mail_verifying_against_the_printed_record(tmp_path: Path) -> None:
    result = roost(tmp_path, "dkim", "generate", "Shop.Example", "--selector", "s2026", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    key_path = tmp_path / "dkim" / "shop.example.pem"
    assert document == {
        "domain": "shop.example",
        "selector": "s2026",
        "key_path": str(key_path),
        "record_name": "s2026._domainkey.shop.example",
        "record_type": "TXT",
        "record_value": document["record_value"],
    }
    assert document["record_value"].startswith("v=DKIM1; k=rsa; p=")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600

    key = DkimKeyring(tmp_path / "dkim").for_domain("shop.example")
    assert key is not None
    assert key.private_key.key_size == 2048
    assert key.record_value == document["record_value"]
    message = compiled(dkim=DkimKeyring(tmp_path / "dkim")).render(recipient())
    assert verifies(message.data, key)


def test_generate_prints_the_record_for_a_person_and_keeps_an_existing_key(tmp_path: Path) -> None:
    first = roost(tmp_path, "dkim", "generate", "shop.example")
    assert first.returncode == 0, first.stderr
    name, value = first.stdout.splitlines()
    assert name == "roost._domainkey.shop.example TXT"
    assert value.startswith("v=DKIM1; k=rsa; p=")
    pem = (tmp_path / "dkim" / "shop.example.pem").read_bytes()

    again = roost(tmp_path, "dkim", "generate", "shop.example")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert (tmp_path / "dkim" / "shop.example.pem").read_bytes() == pem

    forced = roost(tmp_path, "dkim", "generate", "shop.example", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "dkim" / "shop.example.pem").read_bytes() != pem


@pytest.mark.parametrize(("domain", "selector"), [("../../etc", "roost"), ("shop.example", "no/slash")])
def test_generate_refuses_bad_names_and_writes_nothing(tmp_path: Path, domain: str, selector: str) -> None:
    result = roost(tmp_path, "dkim", "generate", domain, "--selector", selector)
    assert result.returncode == 2
    assert "not a valid" in result.stderr
    assert not (tmp_path / "dkim").exists()
