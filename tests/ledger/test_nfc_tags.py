"""NFC tags encoded by the label supplier: the NDEF export per commissioned unit, the UID import
(all rows or none, each bad row named), the seal, and ``linectl trace`` through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import ndef
import pytest

from linectl.cli import main
from linectl.ledger import Ledger, LedgerError, UnitResult, ValidationError, Verdict
from linectl.ledger.nfc_tags import UidRow
from tests.ledger.conftest import GTIN, new_batch, tamper
from tests.people import People

DOMAIN = "https://id.example.com"
LINE_TOML = f"""
[line]
id = "t"
read_point = "urn:epc:id:sgln:0950600.01343.1"
biz_location = "urn:epc:id:sgln:0950600.01343.0"
company_prefix_length = 7
digital_link_domain = "{DOMAIN}"
[ledger]
path = "/tmp/unused.db"
[devices.plc]
kind = "plc"
protocol = "modbus"
host = "127.0.0.1"
port = 502
[devices.printer]
kind = "printer"
protocol = "zpl"
host = "127.0.0.1"
port = 9100
[devices.camera]
kind = "camera"
protocol = "framepush"
host = "127.0.0.1"
port = 7000
"""


def commissioned(ledger: Ledger, n: int = 3) -> list[str]:
    """Batch B1 with n good units and one rejected unit (its serial last)."""
    new_batch(ledger, n=n + 1)
    taken = ledger.take_for_encoding("B1", n + 1)
    ledger.record_units(
        [UnitResult(s, i, Verdict.GOOD) for i, s in enumerate(taken[:n])]
        + [UnitResult(taken[n], n, Verdict.REJECT, reason="no-read")]
    )
    return taken


def rows(*pairs: tuple[str, str]) -> list[UidRow]:
    return [UidRow(line, s, u) for line, (s, u) in enumerate(pairs, start=2)]


def test_uids_are_recorded_per_unit_in_any_usual_hex_spelling(ledger: Ledger) -> None:
    a, b, c, _ = commissioned(ledger)
    done = ledger.nfc.import_uids(
        "B1",
        rows((a, "04:a2:3b:4c:5d:6e:80"), (b, "04A23B4C5D6E81"), (c, "08 12 34 56")),
        actor="alice",
        source="uids.csv",
    )
    assert done.imported == 3
    assert ledger.nfc.uid_of(a, GTIN) == "04A23B4C5D6E80"
    assert ledger.nfc.uid_of(c, GTIN) == "08123456"
    audit = ledger.audit_entries(after_id=done.audit_id - 1, limit=1)[0]
    assert audit.command == "tags.import" and audit.actor == "alice"
    assert ledger.verify_audit().ok


def test_a_file_with_bad_rows_is_refused_whole_naming_each_line_and_column(
    ledger: Ledger,
) -> None:
    a, b, c, scrapped = commissioned(ledger)
    with pytest.raises(ValidationError) as refused:
        ledger.nfc.import_uids(
            "B1",
            rows(
                (a, "04A23B4C5D6E80"),  # line 2: good
                (b, "04A23B4C5D6E8"),  # line 3: odd length
                (c, "04A23B4C5D6E80"),  # line 4: the UID of line 2 again
                (scrapped, "04A23B4C5D6E99"),  # line 5: rejected, not commissioned
                ("NOPE", "04A23B4C5D6E98"),  # line 6: not a serial of the batch
                (a, "04A23B4C5D6E97"),  # line 7: serial of line 2 again
            ),
            actor="alice",
            source="uids.csv",
        )
    text = str(refused.value)
    assert "uids.csv line 3, uid '04A23B4C5D6E8': not a 4, 7 or 10 byte UID in hex" in text
    assert "uids.csv line 4, uid '04A23B4C5D6E80': given for another serial on line 2" in text
    assert f"uids.csv line 5, serial '{scrapped}': is label_scrapped" in text
    assert "uids.csv line 6, serial 'NOPE': not a serial of batch B1" in text
    assert f"uids.csv line 7, serial '{a}': given before on line 2" in text
    assert ledger.nfc.uid_of(a, GTIN) is None  # nothing of the file was recorded


def test_a_uid_or_a_unit_tagged_before_is_refused_on_a_later_import(ledger: Ledger) -> None:
    a, b, _, _ = commissioned(ledger)
    ledger.nfc.import_uids("B1", rows((a, "04A23B4C5D6E80")), actor="alice", source="one.csv")
    with pytest.raises(ValidationError, match=f"uid '04A23B4C5D6E80': is on serial {a}"):
        ledger.nfc.import_uids("B1", rows((b, "04A23B4C5D6E80")), actor="alice", source="two.csv")
    with pytest.raises(ValidationError, match=f"serial '{a}': has a tag already"):
        ledger.nfc.import_uids("B1", rows((a, "04A23B4C5D6E81")), actor="alice", source="two.csv")
    with pytest.raises(LedgerError, match="batch 'B9' is not in the ledger"):
        ledger.nfc.import_uids("B9", rows((a, "04A23B4C5D6E82")), actor="alice", source="x.csv")


def test_an_edited_uid_row_is_refused_when_read(ledger: Ledger, ledger_path: Path) -> None:
    (a, *_) = commissioned(ledger, 1)
    ledger.nfc.import_uids("B1", rows((a, "04A23B4C5D6E80")), actor="alice", source="u.csv")
    with tamper(ledger_path) as conn:
        conn.execute("UPDATE nfc_tags SET uid = '04A23B4C5D6E81'")
    with pytest.raises(LedgerError, match=r"nfc_tags row \d+ does not match its seal"):
        ledger.nfc.uid_of(a, GTIN)
    report = ledger.verify_audit()  # and audit verify names it
    assert not report.ok and f"nfc_tags row of serial {a}: row hash mismatch" in str(report)


def test_a_deleted_uid_row_is_found_by_audit_verify(ledger: Ledger, ledger_path: Path) -> None:
    a, b, *_ = commissioned(ledger)
    rows_in = rows((a, "04A23B4C5D6E80"), (b, "04A23B4C5D6E81"))
    ledger.nfc.import_uids("B1", rows_in, actor="alice", source="u.csv")
    assert ledger.verify_audit().ok
    with tamper(ledger_path) as conn:
        conn.execute("DELETE FROM nfc_tags WHERE uid = '04A23B4C5D6E81'")
    report = ledger.verify_audit()
    assert not report.ok
    assert "nfc_tags: the audit trail records 2 NFC tag UIDs imported but the table holds 1" in str(
        report
    )


def test_the_supplier_round_trip_through_the_cli(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c, scrapped = commissioned(ledger)
    people = People(ledger)
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.session("sv.sam")
    config = tmp_path / "line.toml"
    config.write_text(LINE_TOML, encoding="utf-8")
    out = tmp_path / "ndef.csv"
    base = ["--ledger", str(ledger.path)]
    assert (
        main([*base, "tags", "ndef", "--batch", "B1", "--config", str(config), "--out", str(out)])
        == 0
    )
    with out.open(newline="") as f:
        exported = list(csv.DictReader(f))
    assert [r["serial"] for r in exported] == [a, b, c]  # the scrapped unit gets no tag
    for row in exported:  # an independent NDEF library reads each tag to the unit's Digital Link
        tlv = bytes.fromhex(row["ndef_type2_hex"])
        assert tlv[0] == 0x03  # NDEF Message TLV of a Type 2 tag
        (record,) = ndef.message_decoder(tlv[2 : 2 + tlv[1]])
        assert isinstance(record, ndef.UriRecord)
        assert (
            record.iri == row["digital_link"] == f"{DOMAIN}/01/{GTIN}/10/LOTB1/21/{row['serial']}"
        )

    uids = tmp_path / "uids.csv"
    uids.write_text(
        "serial,uid\n" + "".join(f"{s},04A23B4C5D6E{n:02X}\n" for n, s in enumerate((a, b, c))),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main([*base, "tags", "import", str(uids), "--batch", "B1"]) == 0
    assert "3 recorded for batch B1" in capsys.readouterr().out
    assert main([*base, "trace", b]) == 0
    assert "NFC tag UID 04A23B4C5D6E01 (encoded by the label supplier)" in capsys.readouterr().out
    assert main([*base, "trace", c, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nfc_uid"] == "04A23B4C5D6E02"

    bad = tmp_path / "bad.csv"
    bad.write_text(f"serial;uid\n{scrapped};04A23B4C5D6E10\n", encoding="utf-8")
    assert main([*base, "tags", "import", str(bad), "--batch", "B1"]) == 2
    assert "line 1: the header needs the columns serial and uid" in capsys.readouterr().err

    huge = tmp_path / "huge.csv"
    huge.write_text("serial,uid\n" + "x" * 200_000 + ",04A23B4C5D6E10\n", encoding="utf-8")
    assert main([*base, "tags", "import", str(huge), "--batch", "B1"]) == 2
    assert "huge.csv, line 2: not CSV: field larger than field limit" in capsys.readouterr().err
    nowhere = str(tmp_path / "no-such-dir" / "ndef.csv")
    assert (
        main([*base, "tags", "ndef", "--batch", "B1", "--config", str(config), "--out", nowhere])
        == 2
    )
    assert f"--out {nowhere}: No such file or directory" in capsys.readouterr().err

    people.add("op.olga", "operator", "Olga Operator")
    people.session("op.olga")
    assert main([*base, "tags", "import", str(uids), "--batch", "B1"]) == 2  # operators may not
    assert "tags import" in capsys.readouterr().err
