"""Batch input: CSV and JSONL streamed row by row; every kind of bad row becomes an error row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coverctl.batch.inputs import MAX_LINE_LENGTH, InputRow, RowStream, read_rows, rows_from_text
from coverctl.errors import UsageError
from coverctl.models import Query


def csv_rows(text: str) -> list[InputRow]:
    return list(rows_from_text(text, "csv"))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_row_becomes_a_query_with_aliases_and_extra_columns() -> None:
    (row,) = csv_rows(
        "Character,Movie_Title,YEAR,media_type,actor,ticket\n"
        "Bruce Wayne,The Dark Knight,2008,Movie,Christian Bale,T-1\n"
    )
    assert row.row == 1 and row.error is None
    assert row.query == Query("Bruce Wayne", "The Dark Knight", 2008, "movie", "Christian Bale")
    assert row.extra == {"ticket": "T-1"}


def test_jsonl_row_with_numbers_and_extra_fields() -> None:
    line = {"character_name": "Joker", "title": "The Dark Knight", "year": 2008, "id": 7}
    (row,) = rows_from_text(json.dumps(line) + "\n", "jsonl")
    assert row.query == Query("Joker", "The Dark Knight", 2008, None, None)
    assert row.extra == {"id": 7}


def test_blank_lines_are_skipped_and_not_numbered() -> None:
    rows = csv_rows("character,title\nA,T\n\n,\nB,T\n")
    assert [(r.row, r.query.character_name if r.query else None) for r in rows] == [
        (1, "A"),
        (2, "B"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Jo\x07ker,T", "control characters"),  # the validator's (tests/test_validation.py)
        ("Joker,T,extra", "has 3 columns, the header has 2"),
        ("Joker", "has 1 columns, the header has 2"),
    ],
)
def test_bad_csv_rows_become_error_rows_and_the_next_row_still_reads(
    line: str, message: str
) -> None:
    first, second = csv_rows(f"character,title\n{line}\nJoker,The Dark Knight\n")
    assert first.query is None and first.error is not None
    assert message in first.error and first.error.startswith("Row 1")
    assert second.query == Query("Joker", "The Dark Knight")


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object"), ('"x"', "not a JSON")],
)
def test_jsonl_lines_that_are_not_objects(line: str, message: str) -> None:
    first, second = rows_from_text(line + '\n{"character":"A","title":"T"}\n', "jsonl")
    assert message in (first.error or "") and second.query == Query("A", "T")


def test_undecodable_bytes_in_a_field_make_an_error_row(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", b"character,title\nJo\xffker,T\nJoker,T\n")
    first, second = read_rows(path)
    assert "not UTF-8" in (first.error or "")
    assert second.query == Query("Joker", "T")


def test_undecodable_bytes_in_extras_and_keys_are_replaced_not_fatal(tmp_path: Path) -> None:
    path = write(tmp_path, "in.jsonl", b'{"character":"A","title":"T","n\xffote":"caf\xe9"}\n')
    (row,) = read_rows(path)
    assert row.error is None
    assert row.extra == {"n\ufffdote": "caf\ufffd"}
    json.dumps(row.extra, ensure_ascii=False).encode("utf-8")  # writable as UTF-8

    csv_path = write(tmp_path, "in.csv", b"character,title,n\xffote\nA,T,caf\xe9\n")
    (csv_row,) = read_rows(csv_path)
    assert csv_row.extra == {"n\ufffdote": "caf\ufffd"}


def test_an_overlong_jsonl_line_is_an_error_row_and_reading_goes_on(tmp_path: Path) -> None:
    huge = json.dumps({"character": "A", "title": "T", "blob": "x" * (MAX_LINE_LENGTH + 10)})
    path = write(tmp_path, "in.jsonl", (huge + '\n{"character":"B","title":"T"}\n').encode())
    first, second = read_rows(path)
    assert "longer than" in (first.error or "")
    assert second.row == 2 and second.query == Query("B", "T")


def test_an_overlong_csv_field_is_an_error_row(tmp_path: Path) -> None:
    path = write(
        tmp_path, "in.csv", b"character,title\nA,T" + b"x" * (MAX_LINE_LENGTH + 10) + b"\nB,T\n"
    )
    rows = list(read_rows(path))
    assert "cannot be parsed as CSV" in (rows[0].error or "")
    assert rows[-1].query == Query("B", "T")


def test_empty_character_keeps_the_title_for_cast_expansion() -> None:
    (row,) = csv_rows("character,title,year,media_type\n,The Dark Knight,2008,movie\n")
    assert row.query is None and "character name is empty" in (row.error or "")
    assert row.title_only == Query("", "The Dark Knight", 2008, "movie")
    (bad,) = csv_rows("character,title,year\n,The Dark Knight,soon\n")
    assert bad.title_only is None  # a row that is wrong in another way stays an error


def test_bom_is_stripped_and_tsv_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "in.tsv", "\ufeffcharacter\ttitle\nJoker\tThe Dark Knight\n".encode())
    (row,) = read_rows(path)
    assert row.query == Query("Joker", "The Dark Knight")


def test_header_without_title_column_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no title column"):
        csv_rows("character,name\nA,B\n")


def test_header_naming_a_field_twice_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="names character_name twice"):
        csv_rows("character,title,character_name\nA,T,B\n")


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        RowStream(tmp_path / "nope.csv")


def test_empty_file_has_no_rows(tmp_path: Path) -> None:
    assert list(read_rows(write(tmp_path, "in.csv", b""))) == []
    assert list(read_rows(write(tmp_path, "in.jsonl", b""))) == []


def test_row_stream_knows_csv_extra_columns_before_the_first_row(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", b"character,title,ticket,owner\nA,T,1,me\n")
    stream = RowStream(path)
    assert stream.extra_columns == ["ticket", "owner"]
    assert [r.extra for r in stream] == [{"ticket": "1", "owner": "me"}]


def test_format_is_detected_from_content_without_a_known_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.data", b'{"character":"A","title":"T"}\n')
    assert [r.query for r in read_rows(path)] == [Query("A", "T")]
