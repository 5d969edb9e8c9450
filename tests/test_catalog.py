"""Matrix rows from a catalog file (seedrun.catalog, matrix rows in seedrun.expand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedrun.catalog import CatalogError, parse_rows
from seedrun.errors import SpecError
from seedrun.files import read_spec
from seedrun.localrefs import Table

SPEC = """\
version: 1
jobs:
  - name: spin
    prompt: "{{ name }} ({{ sku }}) turning slowly"
    matrix:
      rows: %s
      ratio: ["16:9", "9:16"]
%s"""


def write(folder: Path, rows_name: str, rows: str, extra: str = "") -> Path:
    (folder / rows_name).write_text(rows, encoding="utf-8")
    path = folder / "spec.yaml"
    path.write_text(SPEC % (rows_name, extra), encoding="utf-8")
    return path


def ids_and_keys(path: Path) -> dict[str, str]:
    return {j.id: j.key for j in read_spec(path).jobs}


def test_rows_cross_the_other_axes(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "sku,name\nB1,Bottle\nL1,Lamp\n")
    spec = read_spec(path)
    assert [(j.id, j.prompt, j.params.get("ratio")) for j in spec.jobs] == [
        ("spin[name=Bottle,ratio=16:9,sku=B1]", "Bottle (B1) turning slowly", "16:9"),
        ("spin[name=Bottle,ratio=9:16,sku=B1]", "Bottle (B1) turning slowly", "9:16"),
        ("spin[name=Lamp,ratio=16:9,sku=L1]", "Lamp (L1) turning slowly", "16:9"),
        ("spin[name=Lamp,ratio=9:16,sku=L1]", "Lamp (L1) turning slowly", "9:16"),
    ]


def test_ids_and_keys_do_not_depend_on_row_order(tmp_path: Path) -> None:
    one = ids_and_keys(write(tmp_path, "p.csv", "sku,name\nB1,Bottle\nL1,Lamp\nM1,Mug\n"))
    other = ids_and_keys(write(tmp_path, "p.csv", "name,sku\nMug,M1\nBottle,B1\nLamp,L1\n"))
    assert one == other and len(one) == 6


def test_json_lines_rows_and_id_columns(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text(
        '{"sku": "B1", "name": "Bottle", "price": 12.5}\n\n'
        '{"sku": "L1", "name": "Lamp", "price": 30}\n'
    )
    path = tmp_path / "spec.yaml"
    path.write_text(
        (SPEC % ("{file: p.jsonl, id: [sku]}", "")).replace("turning", "at {{ price }}")
    )
    assert [(j.id, j.prompt) for j in read_spec(path).jobs] == [
        ("spin[ratio=16:9,sku=B1]", "Bottle (B1) at 12.5 slowly"),
        ("spin[ratio=9:16,sku=B1]", "Bottle (B1) at 12.5 slowly"),
        ("spin[ratio=16:9,sku=L1]", "Lamp (L1) at 30 slowly"),
        ("spin[ratio=9:16,sku=L1]", "Lamp (L1) at 30 slowly"),
    ]


def test_exclude_and_include_on_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        "sku,name\nB1,Bottle\nL1,Lamp\n",
        '      exclude: [{sku: L1, ratio: "9:16"}]\n      include: [{sku: B1, look: gold}]\n',
    )
    spec = read_spec(path)
    assert [j.id for j in spec.jobs] == [
        "spin[look=gold,name=Bottle,ratio=16:9,sku=B1]",
        "spin[look=gold,name=Bottle,ratio=9:16,sku=B1]",
        "spin[name=Lamp,ratio=16:9,sku=L1]",
    ]


def errors(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        read_spec(path)
    return [str(d) for d in info.value.diagnostics]


def test_a_row_missing_a_column_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "sku,name,image\nB1,Bottle,a.png\nL1,Lamp\n")
    assert errors(path) == [
        f"{path}:6:13: jobs[0].matrix.rows: p.csv:3: row has 2 cells and the header 3 "
        "(sku, name, image): no image cell"
    ]


def test_a_missing_catalog_and_one_outside_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC % ("nope.csv", ""))
    assert errors(path) == [f"{path}:6:13: jobs[0].matrix.rows: nope.csv: file not found"]
    (tmp_path.parent / "up.csv").write_text("a\n1\n")
    path.write_text(SPEC % ("../up.csv", ""))
    assert errors(path) == [
        f"{path}:6:13: jobs[0].matrix.rows: ../up.csv: the file is outside the spec's folder "
        f"({tmp_path.resolve()})"
    ]


def test_unknown_id_column(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("sku,name\nB1,Bottle\n")
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC % ("{file: p.csv, id: [code]}", ""))
    assert errors(path) == [
        f"{path}:6:31: jobs[0].matrix.rows.id: p.csv has no column 'code'; columns: sku, name"
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "", "a.csv:1: the file is empty; it needs a header line"),
        ("a.csv", "sku\n", "a.csv: the file has a header and no rows"),
        ("a.csv", "sku,sku\n1,2\n", "a.csv:1: column 'sku' appears twice"),
        (
            "a.csv",
            "my col\nx\n",
            "a.csv:1: column 'my col' is not a template variable name "
            "(letters, digits and _, not starting with a digit)",
        ),
        (
            "a.csv",
            "ratio\n16:9\n",
            "a.csv:1: column 'ratio' is a request parameter or a reserved "
            "name; catalog columns are template variables: make it an axis of the matrix",
        ),
        ("a.csv", 'sku\n"B1\n', "a.csv:2: not valid CSV: unexpected end of data"),
        (
            "a.csv",
            "a,b\n1,2,3\n",
            "a.csv:2: row has 3 cells and the header 2 (a, b): 1 cell(s) more than the header",
        ),
        ("a.jsonl", '{"a": 1}\n[1]\n', "a.jsonl:2: a row must be a JSON object"),
        ("a.jsonl", '{"a": 1}\n{"a": ', "a.jsonl:2: not a JSON object: Expecting value"),
        (
            "a.jsonl",
            '{"a": 1}\n{"b": 2}\n',
            "a.jsonl:2: the row's columns differ from the first row's (a): no a; unknown b",
        ),
        ("a.jsonl", '{"a": null}\n', "a.jsonl:1: a: a cell must be a string, number or boolean"),
    ],
)
def test_parse_errors(name: str, text: str, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_rows(Table(name, text), frozenset({"ratio"}))
    assert str(info.value) == message


def test_multiline_cells_keep_the_right_line_numbers() -> None:
    rows = parse_rows(Table("a.csv", 'a,b\n"x\ny",1\n'), frozenset())
    assert rows.rows == ({"a": "x\ny", "b": "1"},)
    with pytest.raises(CatalogError) as info:
        parse_rows(Table("a.csv", 'a,b\n"x\ny",1\nz\n'), frozenset())
    assert str(info.value) == "a.csv:4: row has 1 cells and the header 2 (a, b): no b cell"


def test_a_bad_image_in_a_cell_names_the_row(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (600, 600)).save(tmp_path / "ok.png")
    Image.new("RGB", (100, 100)).save(tmp_path / "small.png")
    (tmp_path / "p.csv").write_text("sku,name,image\nB1,Bottle,ok.png\nL1,Lamp,small.png\n")
    path = tmp_path / "spec.yaml"
    path.write_text(
        (SPEC % ("{file: p.csv, id: [sku]}", ""))
        + '    media: [{file: "{{ image }}"}]\nsettings: {uploads: {url: "s3://bkt/p"}}\n'
    )
    assert errors(path) == [
        f"{path}:8:20: jobs[0].media[0].file: job spin[ratio=16:9,sku=L1] (p.csv:3): "
        "small.png: the image is 100x100 px; width and height must be 300-6000 px"
    ]
