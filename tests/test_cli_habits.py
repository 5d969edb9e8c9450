"""The CLI's habits: completion, typo hints, `-` for stdin, a quiet closed pipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seedrun import cli
from seedrun.commands.completion import script

SPEC = """\
version: 1
jobs:
  - name: spin
    prompt: "A bottle on {{ backdrop }}"
    matrix: {backdrop: [marble, moss, velvet]}
"""
BIN = Path(sys.executable).parent


def _run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seedrun", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


# ---------------------------------------------------------------- completion


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_parses_in_its_shell(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    path = tmp_path / f"seedrun.{shell}"
    path.write_text(script(shell), encoding="utf-8")
    checked = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    text = path.read_text(encoding="utf-8")
    assert "_seedrun_job_ids" in text  # --select completes job ids
    assert "--select" in text and "apply" in text and "completion" in text


def _complete(words: list[str], tmp_path: Path) -> list[str]:
    """What bash offers for the last word, with the generated script loaded."""
    path = tmp_path / "seedrun.bash"
    path.write_text(script("bash"), encoding="utf-8")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    probe = (
        f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
        '_shtab_seedrun; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_flags_and_job_ids(spec: Path, tmp_path: Path) -> None:
    if not (BIN / "seedrun").exists():
        pytest.skip("the seedrun script is not installed beside this python")
    assert _complete(["seedrun", "pl"], tmp_path) == ["plan"]
    assert _complete(["seedrun", "plan", str(spec), "--sel"], tmp_path) == ["--select"]
    assert _complete(["seedrun", "apply", str(spec), "--select", ""], tmp_path) == [
        "spin[backdrop=marble]",
        "spin[backdrop=moss]",
        "spin[backdrop=velvet]",
    ]
    assert _complete(["seedrun", "plan", str(spec), "--select", "spin[backdrop=m"], tmp_path) == [
        "spin[backdrop=marble]",
        "spin[backdrop=moss]",
    ]


def test_job_ids_of_a_broken_spec_complete_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\njobs: [", encoding="utf-8")
    done = _run("completion", "--jobs", str(bad))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_completion_without_a_shell_is_a_usage_error() -> None:
    done = _run("completion")
    assert done.returncode == 2
    assert done.stderr == "seedrun: completion: name a shell: seedrun completion bash|zsh\n"


# ---------------------------------------------------------------- typos


def test_a_mistyped_flag_gets_the_closest_one(spec: Path) -> None:
    done = _run("plan", str(spec), "--selct", "spin*")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "seedrun plan: error: unrecognized arguments: --selct spin*; did you mean --select?"
    )
    assert done.stderr.startswith("usage: seedrun plan ")  # the command's usage, not the top's


def test_a_mistyped_flag_with_a_value_gets_the_closest_one(spec: Path) -> None:
    done = _run("apply", str(spec), "--max-inflight=3")
    assert done.stderr.splitlines()[-1].endswith("; did you mean --max-in-flight?")


def test_a_mistyped_command_gets_the_closest_one() -> None:
    done = _run("plna", "x.yaml")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("; did you mean 'plan'?")


def test_a_mistyped_choice_gets_the_closest_one(spec: Path) -> None:
    done = _run("plan", str(spec), "--format", "markdwn")
    assert done.stderr.splitlines()[-1].endswith("; did you mean 'markdown'?")


def test_nothing_close_gets_no_hint(spec: Path) -> None:
    done = _run("plan", str(spec), "--zzzzzz")
    assert done.stderr.splitlines()[-1] == "seedrun plan: error: unrecognized arguments: --zzzzzz"


# ---------------------------------------------------------------- stdin, pipes, version


def test_dash_reads_the_spec_from_stdin(tmp_path: Path) -> None:
    assert _run("validate", "-", stdin=SPEC).stdout == "<stdin>: valid, 3 jobs\n"
    rendered = _run("render", "-", stdin=SPEC)
    assert rendered.returncode == 0
    assert len(rendered.stdout.splitlines()) == 3
    planned = _run("plan", "-", "--lock", str(tmp_path / "x.lock"), stdin=SPEC)
    assert planned.returncode == 0 and "3 create" in planned.stdout


def test_a_stdin_spec_error_names_stdin() -> None:
    done = _run("validate", "-", stdin="version: 1\njobs:\n  - {name: a, promt: hi}\n")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("<stdin>:3:")


def test_a_stdin_spec_needs_a_lock_to_plan() -> None:
    done = _run("plan", "-", stdin=SPEC)
    assert done.returncode == 2
    assert done.stderr == (
        "seedrun: a spec read from stdin (-) has no lockfile beside it: give --lock PATH\n"
    )


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    values = ", ".join(str(i) for i in range(3000))
    head = "version: 1\njobs:\n  - name: a\n    prompt: p {{ x }}\n"
    big.write_text(head + f"    matrix: {{x: [{values}]}}\n", encoding="utf-8")
    pipe = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -m seedrun render big.yaml | head -1; '
            'echo "rc=${PIPESTATUS[0]}"',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    lines = pipe.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith('{"id": "a[x=0]"')
    assert lines[1] == "rc=141"  # as for a Unix tool ended by SIGPIPE; never 2
    assert pipe.stderr == ""


def test_version_comes_from_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    import seedrun

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"seedrun {seedrun.__version__}\n"


def test_a_mistyped_top_level_flag_gets_the_closest_one() -> None:
    done = _run("--verison")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "seedrun: error: unrecognized arguments: --verison; did you mean --version?"
    )
