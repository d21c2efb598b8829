"""The columnar deck reader (tariffs/_deck.pyx + tariffs/load.py) against the row-by-row reference
(tariffs/load_reference.py): the same rows, the same compiled tables, the same problems in the same order; and the
tariff cache that lets a command parse a deck once."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import tariffs.load as load_mod
from anatole.cli import main
from tariffs import _deck, load_reference
from tariffs.compile import compile_tariff
from tariffs.errors import TariffError
from tariffs.load import COLUMNS, PrefixColumn, clear_cache, compiled_tariff, load_tariff
from tests.test_tariff_load import BANDS, CSV_CASES, HEAD, TOML_CASES, write

DATA = Path(__file__).parent / "data" / "cdr"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"


# --- the scanner is csv.reader -------------------------------------------------------------------------------


def csv_records(text: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    return [(reader.line_num, fields) for fields in reader]


def scanned_records(text: str) -> list[tuple[int, list[str]]]:
    data = text.encode("utf-8", "surrogatepass")
    scanned = _deck.scan(np.frombuffer(data + b"\xff", np.uint8).copy(), 0, len(data), csv.field_size_limit())
    assert scanned is not None
    out, bounds, lo, lines = scanned
    buf = out.tobytes()
    assert buf[-1:] == b"\0" and bounds[0] == bounds[1] == 0  # the spare byte, the empty field 0
    return [(int(lines[r]), [buf[bounds[k]:bounds[k + 1]].decode("utf-8", "surrogatepass")
                             for k in range(lo[r], lo[r + 1])]) for r in range(len(lines))]


@given(st.text(alphabet=st.sampled_from(['a', '1', ',', '"', '\n', '\r', ' ', 'é', '#', '\x00', '\t']),
               max_size=40))
def test_scanner_splits_like_csv_reader(text: str) -> None:
    assert scanned_records(text) == csv_records(text)


def test_scanner_edge_cases() -> None:
    for text in ['', '\n', 'a', 'a,', ',', '"', '""', '"a""b"', '"a"b,c', 'a"b', '"a\nb"\r\nc\rd', '"open\nx',
                 'x\r\n\r\ny\n', '\ufeffa,b\n']:
        assert scanned_records(text) == csv_records(text), repr(text)


def test_scanner_hands_an_over_long_field_to_csv() -> None:
    data = np.frombuffer(b"a,bcdef\n ", np.uint8)
    assert _deck.scan(data.copy(), 0, 8, 4) is None
    assert _deck.scan(data.copy(), 0, 8, 5) is not None
    with pytest.raises(ValueError):
        _deck.scan(data.copy(), 0, 9, 5)  # no room for the spare byte


@given(st.binary(max_size=12))
def test_utf8_check_agrees_with_python(data: bytes) -> None:
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert (_deck.utf8_valid(np.frombuffer(data + b"\0", np.uint8), len(data)) < 0) == valid


def test_utf8_check_edges() -> None:
    for text in ["é", "€", "𝄞", "\U0010ffff", "a\u07ff\u0800\uffff\U00010000"]:
        data = text.encode()
        assert _deck.utf8_valid(np.frombuffer(data, np.uint8), len(data)) == -1
        assert _deck.utf8_valid(np.frombuffer(data, np.uint8), len(data) - 1) >= 0 or len(text.encode()) == 1
    for bad in [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80",
                b"\xff"]:
        assert _deck.utf8_valid(np.frombuffer(bad, np.uint8), len(bad)) == 0


# --- kernels --------------------------------------------------------------------------------------------------


def cells(*texts: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(buffer, bounds, field numbers) of one column, laid out as scan lays a deck (field 0 empty)."""
    buf = "".join(texts).encode()
    bounds = np.concatenate([[0, 0], np.cumsum([len(t.encode()) for t in texts])]).astype(np.int64)
    return np.frombuffer(buf + b"\0", np.uint8), bounds, np.arange(len(texts), dtype=np.int64), 1


def test_money_kernel_takes_only_plain_amounts() -> None:
    values, status = _deck.money(*cells("0.05", ".5", "7.", "12", "", "-1", "+1", "1e3", "0.123456789",
                                        "12345678901", "."), 8)
    assert values[:4].tolist() == [5_000_000, 50_000_000, 700_000_000, 1_200_000_000]
    assert status.tolist() == [0, 0, 0, 0, _deck.EMPTY] + [_deck.FALLBACK] * 6


def test_digits_and_whole_kernels() -> None:
    arr, status = _deck.digits(*cells("33", "", "3a", "1" * 19, "1" * 18), 18)
    assert arr.tolist()[:2] == [b"33", b""] and arr[4] == b"1" * 18
    assert status.tolist() == [0, 0, _deck.FALLBACK, _deck.FALLBACK, 0]
    values, status = _deck.whole(*cells("60", "0006", "6s", "", "1234567890"))
    assert values[:2].tolist() == [60, 6] and status.tolist() == [0, 0, 2, 1, 2]


def test_strip_flags_non_ascii_edges() -> None:
    s, e, edge = _deck.strip(*cells(" a \t", "\x1cb", "\u00a0c", "é"))
    assert (e - s).tolist() == [1, 1, 3, 2] and edge.tolist() == [0, 0, 1, 1]


def test_unique_in_first_appearance_order() -> None:
    ids, first = _deck.unique(*cells("b", "a", "b", "", "a", ""))
    assert ids.tolist() == [0, 1, 0, 2, 1, 2] and first.tolist() == [0, 1, 3]


# --- both loaders, the same answer ------------------------------------------------------------------------------


def outcome(loader: Any, path: Path) -> tuple[str, Any]:
    """('problems', [...]) or ('rows', columns) and the compiled tables (or compile problems)."""
    try:
        tariff = loader(path)
    except TariffError as exc:
        return "problems", [str(p) for p in exc.problems]
    rows = tariff.rows
    cols = {name: getattr(rows, name).tolist() for name in ("destination", "band", "connect_fee", "price", "unit",
                                                             "increment", "slot_from", "min_cost", "max_cost",
                                                             "effective_from", "line")}
    cols["prefix"] = list(rows.prefix)
    cols["destinations"] = rows.destinations
    cols["n_deck_rows"] = tariff.n_deck_rows
    try:
        compiled = compile_tariff(tariff)
    except TariffError as exc:
        return "rows", (cols, [str(p) for p in exc.problems])
    tables = {k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in compiled.arrays.items()}
    return "rows", (cols, tables, list(compiled.prefixes), compiled.rate_row.tolist(), compiled.slot_row.tolist(),
                    compiled.stats)


def same_outcome(path: Path) -> tuple[str, Any]:
    mine, theirs = outcome(load_tariff, path), outcome(load_reference.load_tariff, path)
    assert mine == theirs
    return mine


@pytest.mark.parametrize(("csv_text", "message"), CSV_CASES)
def test_every_bad_deck_case_gives_the_reference_problems(tmp_path: Path, csv_text: str, message: str) -> None:
    kind, found = same_outcome(write(tmp_path, BANDS, csv_text))
    text = "\n".join(found if kind == "problems" else found[1])
    assert message in text


@pytest.mark.parametrize(("toml", "message"), TOML_CASES)
def test_every_bad_settings_case_gives_the_reference_problems(tmp_path: Path, toml: str, message: str) -> None:
    kind, found = same_outcome(write(tmp_path, toml))
    assert message in "\n".join(found if kind == "problems" else found[1])


def test_samples_load_the_same(tmp_path: Path) -> None:
    for toml in sorted(SAMPLES.glob("*.toml")):
        kind, _ = same_outcome(toml)
        assert kind == "rows"


def test_deck_and_inline_rates_together(tmp_path: Path) -> None:
    path = write(tmp_path, BANDS + "[[rate]]\nprefix = '44'\ndestination = 'UK'\nprice = 0.25\nband = 'peak'\n"
                 "[[rate]]\nprefix = '+1'\ndestination = ''\nprice = -1\n",
                 "prefix,destination,price\n33,France,0.1\n,Rest,1\n")
    kind, found = same_outcome(path)
    assert kind == "problems"
    assert found == ["t.toml [[rate]] #2: prefix: '+1' must be digits only (write E.164 digits without '+')"
                     .replace("t.toml", str(path)),
                     f"{path} [[rate]] #2: destination: required value is empty",
                     f"{path} [[rate]] #2: price: '-1' is negative (prices, fees and limits are >= 0)"]


def test_a_bad_value_is_reported_once_at_its_first_row(tmp_path: Path) -> None:
    path = write(tmp_path, BANDS, "prefix,destination,price,unit\n1,A,0.1,6s\n2,B,x,6s\n3,C,x,60\n")
    kind, found = same_outcome(path)
    deck = tmp_path / "deck.csv"
    assert found == [f"{deck}:3: price: 'x' is not a decimal number",  # columns in order: price before unit
                     f"{deck}:2: unit: '6s' is not a whole number of seconds"]


def test_quoted_unicode_and_odd_line_ends(tmp_path: Path) -> None:
    deck = ('\ufeff# a comment\r\nPrefix , destination,price,BAND\r\n\r\n"33","France, métropole", 0.10 ,peak\r'
            '331,"Paris ""intra""",\u00a00.2\u00a0,*\n\n  \n336,Mobile\u00a0,.5,offpeak')
    path = write(tmp_path, BANDS, deck)
    kind, found = same_outcome(path)
    assert kind == "rows"
    cols = found[0]
    assert cols["prefix"] == ["33", "331", "336"]
    assert cols["destinations"] == ["France, métropole", 'Paris "intra"', "Mobile"]
    assert cols["price"] == [10_000_000, 20_000_000, 50_000_000]
    assert cols["line"] == [4, 5, 8]


@pytest.mark.parametrize("deck", [b"prefix,destination,price\n33,C\xf4te,1\n",  # Latin-1
                                  b"\xef\xbb\xbfprefix,destination,price\n33,F,1\n", b"\xef\xbb\xbf",  # BOM
                                  b"prefix,destination,price\n33,F,1\n\xed\xa0\x80"])  # a surrogate
def test_encoding_the_same(tmp_path: Path, deck: bytes) -> None:
    path = write(tmp_path, BANDS, "")
    (tmp_path / "deck.csv").write_bytes(deck)
    same_outcome(path)


def test_over_long_field_falls_back_to_csv(tmp_path: Path) -> None:
    long = "x" * (csv.field_size_limit() + 1)
    kind, found = same_outcome(write(tmp_path, BANDS, f"prefix,destination,price\n33,{long},1\n"))
    assert kind == "problems" and "field larger than field limit" in found[0]


# random decks: cells drawn from pools of valid, odd and invalid values per column
POOLS = {
    "prefix": ["", "1", "33", "331", "336", "44", "4420", "49", "0", "00", "+33", "33A", " 33 ", "\u00a0331",
               "1" * 18, "1" * 19, "٣"],
    "destination": ["France", "France", "UK", "Germany, Berlin", 'Say "hi"', "Côte d'Ivoire", " Mobile ", "",
                    "São Tomé", "x\u00a0"],
    "band": ["", "*", "peak", "offpeak", " peak", "night", "Peak"],
    "connect_fee": ["", "0", "0.4", ".25", "-1", "1e2"],
    "price": ["0.1", "0.05", "1", "5.", ".5", "0.12345678", "0.123456789", "0.1000000000", "x", "", "-0",
              "12345678901", " 0.2\u00a0", "٣"],
    "unit": ["", "60", "1", "6", "0", "86401", "6s", "0060", "1234567890"],
    "increment": ["", "1", "30", "6", "0", "60"],
    "from": ["", "0", "0", "30", "60", "604801"],
    "min_cost": ["", "", "0.1", "2"],
    "max_cost": ["", "", "1", "0.05"],
    "effective_from": ["", "", "2026-01-01", "2025-06-30", "2026-13-01", "2026-1-1", " 2026-01-01 "],
}


@st.composite
def decks(draw: Any) -> tuple[str, str]:
    optional = [c for c in COLUMNS if c not in ("prefix", "destination", "price")]
    header = ["prefix", "destination", "price", *draw(st.lists(st.sampled_from(optional), unique=True))]
    if draw(st.integers(0, 9)) == 0:  # a header problem now and then
        header.append(draw(st.sampled_from(["colour", "price", ""])))
    header = draw(st.permutations(header))
    n = draw(st.integers(0, 12))
    rows = [[draw(st.sampled_from(POOLS.get(c, ["?"]))) for c in header] for _ in range(n)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow([draw(st.sampled_from([h, h.upper(), f" {h} "])) for h in header])
    for row in rows:
        extra = draw(st.integers(0, 14))
        if extra == 0:
            row = row[:-1]  # a wrong field count
        elif extra == 1:
            out.write("# comment, with a comma\n")
        elif extra == 2:
            out.write("\n")
        writer.writerow(row)
    inline = ""
    for k in range(draw(st.integers(0, 2))):
        price = draw(st.sampled_from(["0.1", "1", "-1"]))
        inline += f"[[rate]]\nprefix = '{9 + k}'\ndestination = 'Inline'\nprice = {price}\n"
    return out.getvalue(), inline


@given(decks())
def test_columnar_and_reference_give_identical_tables(deck: tuple[str, str]) -> None:
    text, inline = deck
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "deck.csv").write_text(text, encoding="utf-8", newline="")
        path = Path(tmp) / "t.toml"
        path.write_text(HEAD + 'deck = "deck.csv"\n' + BANDS + inline)
        same_outcome(path)


@given(st.lists(st.tuples(st.sampled_from(["1", "33", "331", "44", "4420", "49", ""]),
                          st.sampled_from(["*", "peak", "offpeak"]), st.sampled_from(["0", "30", "60"]),
                          st.sampled_from(["", "2026-01-01", "2025-06-30"]),
                          st.integers(0, 10**7).map(lambda v: f"{v // 100_000}.{v % 100_000:05d}"),
                          st.sampled_from(["1", "6", "60"])),
                min_size=1, max_size=30, unique_by=lambda r: r[:4]))
def test_valid_random_decks_compile_identically(rows: list[tuple]) -> None:
    lines = ["prefix,destination,band,from,effective_from,price,increment"]
    lines += [f"{p},D{p},{b},{f},{e},{price},{inc}" for p, b, f, e, price, inc in rows]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "deck.csv").write_text("\n".join(lines) + "\n")
        path = Path(tmp) / "t.toml"
        path.write_text(HEAD + 'deck = "deck.csv"\n' + BANDS)
        same_outcome(path)


def test_prefix_column_is_a_sequence_of_str() -> None:
    col = PrefixColumn(np.array([b"33", b"", b"4420"], dtype="S18"))
    assert len(col) == 3 and col[0] == "33" and col[1] == "" and list(col) == ["33", "", "4420"]
    assert col == ["33", "", "4420"] and col[1:] == ["", "4420"] and np.asarray(col).tolist() == ["33", "", "4420"]


# --- once per command -----------------------------------------------------------------------------------------


def age(*paths: Path) -> None:
    """Date files a minute back: a deck modified within 50 ms of its reading is not cached."""
    for p in paths:
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - 60 * 10**9))


def test_cache_reuses_until_a_file_changes(tmp_path: Path) -> None:
    clear_cache()
    path = write(tmp_path, BANDS, "prefix,destination,price\n33,France,0.1\n")
    deck = tmp_path / "deck.csv"
    age(path, deck)
    first = compiled_tariff(path)
    assert compiled_tariff(str(path)) is first
    deck.write_text("prefix,destination,price\n33,France,0.25\n")  # the deck alone changes (same size)
    second = compiled_tariff(path)
    assert second is not first and int(second.tariff.rows.price[0]) == 25_000_000
    age(deck)
    assert compiled_tariff(path) is not second  # changed again (its time): read again
    third = compiled_tariff(path)
    assert compiled_tariff(path) is third
    deck.write_text("prefix,destination,price\n33,France,x\n")
    with pytest.raises(TariffError):
        compiled_tariff(path)


def test_a_deck_just_written_is_not_cached(tmp_path: Path) -> None:
    clear_cache()
    path = write(tmp_path, BANDS, "prefix,destination,price\n33,France,0.1\n")
    age(path)
    deck = tmp_path / "deck.csv"  # modified "now" at every reading below, however slow the machine: 10 s ahead
    os.utime(deck, ns=(deck.stat().st_atime_ns, time.time_ns() + 10 * 10**9))
    assert compiled_tariff(path) is not compiled_tariff(path)  # the deck's time is too close to the reading


def test_batch_rate_parses_the_deck_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clear_cache()
    calls: list[Path] = []
    real = load_mod.load_tariff

    def counting(path: Any, **kw: Any) -> Any:
        calls.append(Path(path))
        return real(path, **kw)

    monkeypatch.setattr(load_mod, "load_tariff", counting)
    from tests.test_batch_rate import ROWS

    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    result = CliRunner().invoke(main, ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
                                       "--format", "asterisk", "--timezone", "Europe/Paris",
                                       "--out", str(tmp_path / "rated.csv"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["calls"] == 2
    assert calls == [(SAMPLES / "fr-business.toml").absolute()]


def numpy_digit_keys(digits: np.ndarray, key_len: int) -> np.ndarray:
    """tariffs.compile.digit_keys as it was in numpy, the oracle of the C version."""
    n, width = len(digits), digits.dtype.itemsize
    b = digits.view(np.uint8).reshape(n, width)[:, :key_len].astype(np.uint64)
    vals = np.where(b == 0, np.uint64(0), b - np.uint64(47))
    key = np.zeros(n, dtype=np.uint64)
    for j in range(key_len):
        key *= np.uint64(11)
        if j < vals.shape[1]:
            key += vals[:, j]
    return key


@given(st.lists(st.text(alphabet="0123456789+a", max_size=20), min_size=1, max_size=50), st.integers(1, 18))
def test_digit_keys_in_c_match_numpy(texts: list[str], key_len: int) -> None:
    from tariffs.compile import digit_keys

    digits = np.array([t.encode() for t in texts], dtype="S")
    with np.errstate(over="ignore"):
        assert digit_keys(digits, key_len).tolist() == numpy_digit_keys(digits, key_len).tolist()
