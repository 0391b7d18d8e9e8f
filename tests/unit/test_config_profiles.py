"""Market code profiles in the line configuration: a line's own profile, and each mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from linectl.config import BUILTIN_PROFILES, ConfigError, load_config

HEAD = """
[line]
id = "line-1"
read_point = "urn:epc:id:sgln:4012345.00001.1"
biz_location = "urn:epc:id:sgln:4012345.00001.0"
company_prefix_length = 7
[ledger]
path = "ledger.db"
"""

ITALY = """
[line.profiles.it-aic]
market = "IT"
ais = ["01", "17", "10", "21", "716"]
language = "it"
hri = ["AIC: {716}", "SN: {21}", "Lotto: {10} Scad.: {17}"]
randomised_serials = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "line.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def test_a_line_adds_its_own_profile_beside_the_shipped_ones(tmp_path: Path) -> None:
    line = load_config(write(tmp_path, ITALY)).line
    profile = line.code_profile("it-aic")
    assert profile.code_fields == ("716",) and profile.national_numbers == ("716",)
    assert set(line.code_profiles()) == set(BUILTIN_PROFILES) | {"it-aic"}
    assert profile.missing_fields({}) == [
        "needs AI (716) national number (AIC), e.g. --nhrn 716=VALUE"
    ]
    assert profile.missing_fields({"716": "1", "710": "2"}) == ["does not mark AI (710)"]
    with pytest.raises(KeyError, match="code profile 'xx' is not defined"):
        line.code_profile("xx")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("ais = [\"01\", \"17\", \"10\", \"21\", \"716\"]", "ais = [\"01\", \"17\", \"10\"]"),
         "line.profiles.it-aic: Value error, ais: AI (21) is missing"),
        (("\"AIC: {716}\"", "\"PZN: {710}\""),
         "hri line 1 'PZN: {710}': {710} is not in ais"),
        (("language = \"it\"", "language = \"it\"\nsymbology = \"qr\""),
         "symbology 'qr' needs form 'digital-link'"),
        (("market = \"IT\"", "market = \"Italy\""), "line.profiles.it-aic.market"),
        (("[line.profiles.it-aic]", "[line.profiles.IT_AIC]"), "profile name 'IT_AIC'"),
        (("\"SN: {21}\"", "\"SN: {21} {21}\""), "{21} more than once"),
    ],
)  # fmt: skip
def test_a_bad_profile_is_refused_naming_the_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ITALY.replace(*change)))
    assert message in str(caught.value)


def test_a_profile_with_more_text_lines_than_a_wsi_printer_has_fields_is_refused(
    tmp_path: Path,
) -> None:
    four = ITALY.replace('hri = ["AIC: {716}",', 'hri = ["AIC: {716}", "GTIN {01}",')
    wsi = '[devices.printer]\nkind = "printer"\nprotocol = "wsi"\nhost = "127.0.0.1"\nport = 3100\n'
    with pytest.raises(ConfigError, match=r"line.profiles.it-aic.hri: 4 lines, but the WSI printer "
                       r"devices.printer has 3 text fields"):  # fmt: skip
        load_config(write(tmp_path, four + wsi))
    more = wsi + 'options = {hri_fields = ["H1", "H2", "H3", "H4"]}\n'
    assert (
        load_config(write(tmp_path, four + more)).line.code_profile("it-aic").hri[1] == "GTIN {01}"
    )
