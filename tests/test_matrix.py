"""Matrix expansion: whole literal results, GitHub Actions' documented examples first.

Examples from "Running variations of jobs in a workflow" (docs.github.com,
actions/using-jobs/using-a-matrix-for-your-jobs).
"""

from __future__ import annotations

from seedrun.matrix import canonical_id, excluded, expand, format_value, job_id


def test_single_dimension() -> None:
    assert expand({"version": [10, 12, 14]}) == [{"version": 10}, {"version": 12}, {"version": 14}]


def test_product_in_declared_key_order() -> None:
    assert expand({"os": ["ubuntu-22.04", "ubuntu-20.04"], "version": [10, 12, 14]}) == [
        {"os": "ubuntu-22.04", "version": 10},
        {"os": "ubuntu-22.04", "version": 12},
        {"os": "ubuntu-22.04", "version": 14},
        {"os": "ubuntu-20.04", "version": 10},
        {"os": "ubuntu-20.04", "version": 12},
        {"os": "ubuntu-20.04", "version": 14},
    ]


def test_github_include_example_fruit_animal() -> None:
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand(matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_github_include_example_os_node_npm() -> None:
    matrix = {
        "os": ["windows-latest", "ubuntu-latest"],
        "node": [14, 16],
        "include": [{"os": "windows-latest", "node": 16, "npm": 6}],
    }
    assert expand(matrix) == [
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16, "npm": 6},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16},
    ]


def test_include_that_matches_nothing_adds_a_combination() -> None:
    matrix = {
        "os": ["windows-latest", "ubuntu-latest", "macos-latest"],
        "node": [14, 16],
        "include": [{"os": "windows-latest", "node": 17}],
    }
    assert expand(matrix) == [
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16},
        {"os": "macos-latest", "node": 14},
        {"os": "macos-latest", "node": 16},
        {"os": "windows-latest", "node": 17},
    ]


def test_github_exclude_partial_match_example() -> None:
    matrix = {
        "os": ["macos-latest", "windows-latest"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "exclude": [
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    }
    assert expand(matrix) == [
        {"os": "macos-latest", "version": 12, "environment": "staging"},
        {"os": "macos-latest", "version": 14, "environment": "staging"},
        {"os": "macos-latest", "version": 14, "environment": "production"},
        {"os": "macos-latest", "version": 16, "environment": "staging"},
        {"os": "macos-latest", "version": 16, "environment": "production"},
        {"os": "windows-latest", "version": 12, "environment": "staging"},
        {"os": "windows-latest", "version": 12, "environment": "production"},
        {"os": "windows-latest", "version": 14, "environment": "staging"},
        {"os": "windows-latest", "version": 14, "environment": "production"},
    ]


def test_include_only_matrix() -> None:
    matrix = {
        "include": [
            {"site": "production", "datacenter": "site-a"},
            {"site": "staging", "datacenter": "site-b"},
        ]
    }
    assert expand(matrix) == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_excludes_apply_before_includes() -> None:
    matrix = {
        "look": ["dark", "light"],
        "exclude": [{"look": "dark"}],
        "include": [{"look": "dark", "extra_note": "back"}],
    }
    # The include cannot extend the excluded combination, so it is added on its own.
    assert expand(matrix) == [{"look": "light"}, {"look": "dark", "extra_note": "back"}]


def test_include_never_overwrites_original_values_but_may_overwrite_added_ones() -> None:
    matrix = {
        "look": ["dark", "light"],
        "include": [
            {"note": "first"},
            {"note": "second", "look": "light"},  # overwrites an added value
            {"look": "dim"},  # contradicts every original value: new combination
        ],
    }
    assert expand(matrix) == [
        {"look": "dark", "note": "first"},
        {"look": "light", "note": "second"},
        {"look": "dim"},
    ]


def test_empty_after_exclude() -> None:
    assert expand({"look": ["dark"], "exclude": [{"look": "dark"}]}) == []


def test_empty_matrix() -> None:
    assert expand({}) == []


def test_true_is_not_one() -> None:
    matrix = {"flag": [True, 1], "exclude": [{"flag": 1}]}
    assert expand(matrix) == [{"flag": True}]


def test_excluded_lists_the_dropped_combinations() -> None:
    matrix = {"a": [1, 2], "b": ["x", "y"], "exclude": [{"a": 2}]}
    assert list(excluded(matrix)) == [{"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


def test_job_id_sorts_keys_and_formats_values() -> None:
    assert job_id("spin", {}) == "spin"
    assert job_id("spin", {"ratio": "16:9", "backdrop": "marble"}) == (
        "spin[backdrop=marble,ratio=16:9]"
    )
    assert job_id("j", {"b": True, "a": None, "c": 1.5, "d": {"y": 1, "x": [2]}}) == (
        'j[a=null,b=true,c=1.5,d={"x":[2],"y":1}]'
    )
    assert format_value(False) == "false"


def test_canonical_id_sorts_written_pairs() -> None:
    assert canonical_id("shot[look=dark,angle=low]") == "shot[angle=low,look=dark]"
    assert canonical_id("shot") == "shot"
    assert canonical_id("shot[oops]") == "shot[oops]"
