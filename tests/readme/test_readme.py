"""The README runs as written.

Every ```sh block of README.md after the first is run, in order, by one bash shell, as a
reader would paste them into a second shell while `./scripts/start` serves in the first:
a real `optledger serve` (what scripts/start runs once it has installed) is started first,
with a fresh HOME, so the server and every command find the same, new, default data
directory with no OPTLEDGER_* variable set. The first block, `./scripts/start` and
`./scripts/test`, is only checked to be those two commands: the server started here is the
first, and this test is part of the second.

How a block is read:

- a command is a line that is not a comment, with the lines that continue it (a trailing
  backslash, or a quote still open);
- the `# ` lines right after a command are its output, stdout and stderr together as a
  terminal shows them; a blank line or the next command ends them, so a comment that
  explains the next step follows a blank line;
- a command must exit with 0; where the README shows a failure it says
  `; echo "exit $?"` and shows the code as output;
- a command the README shows no output for must print nothing.

How output is compared: `…` (or `...`) matches anything; white space matches any white
space, and none, except between two word characters; and white space may stand next to
any punctuation. So wrapped JSON matches the one-line answer, and one-line JSON the
pretty-printed one, while every word, number and sign must be there in order. The line
`optledger: database …` that every command starts with is left out of the comparison
unless the README shows it. The server listens on a free port, not 8000: `127.0.0.1:8000`
is rewritten to that address everywhere in the README before it is run, and
OPTLEDGER_PORT and OPTLEDGER_PUBLIC_URL name it, as the default would.
"""

import itertools
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from optledger.cli.errors import EXIT_CODES
from tests.live import free_port, serving

REPO: Final = Path(__file__).resolve().parents[2]
README: Final = REPO / "README.md"
SETUP_COMMANDS: Final = [["./scripts/start"], ["./scripts/test"]]
README_ADDRESS: Final = "127.0.0.1:8000"
DATABASE_LINE: Final = "optledger: database "
RUN_TIMEOUT: Final = 300.0
_TOKENS: Final = re.compile(
    r"(?P<placeholder>…|\.\.\.)|(?P<space>\s+)|(?P<text>(?:(?!…|\.\.\.)\S)+)"
)
_FENCE: Final = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the README and the output it shows."""

    line: int
    """The README line the command starts on."""
    command: str
    expected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Block:
    line: int
    lines: tuple[str, ...]


def sh_blocks(text: str) -> list[Block]:
    """The ```sh blocks of a Markdown text, in order."""
    blocks: list[Block] = []
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line)
        if current is None:
            if fence and fence.group(1) == "sh":
                current, start = [], number + 1
        elif fence:
            blocks.append(Block(line=start, lines=tuple(current)))
            current = None
        else:
            current.append(line)
    assert current is None, "README.md has an unclosed ``` block"
    return blocks


def steps(block: Block) -> list[Step]:
    """The commands of one block with the output lines each shows."""
    found: list[Step] = []
    lines = list(block.lines)
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            index += 1
            continue
        start = index
        command = [line]
        while not _complete("\n".join(command)):
            index += 1
            assert index < len(lines), f"README line {block.line + start}: unfinished command"
            command.append(lines[index])
        index += 1
        expected: list[str] = []
        while index < len(lines) and lines[index].startswith("#"):
            expected.append(lines[index].removeprefix("#").removeprefix(" "))
            index += 1
        found.append(Step(block.line + start, "\n".join(command), tuple(expected)))
    return found


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # a quote is still open
        return False
    return True


def output_pattern(expected: tuple[str, ...]) -> re.Pattern[str]:
    """`expected` as a pattern: placeholders match anything, white space is loose."""
    text = "\n".join(expected).strip()
    parts: list[str] = []
    for token in _TOKENS.finditer(text):
        if token.group("placeholder"):
            parts.append(".*?")
        elif token.group("space"):
            start, end = token.span()  # never at either end: the text is stripped
            between_words = _word(text[start - 1]) and _word(text[end])
            parts.append(r"\s+" if between_words else r"\s*")
        else:
            parts.append(_loose_punctuation(token.group()))
    return re.compile("".join(parts), re.DOTALL)


def _loose_punctuation(text: str) -> str:
    """`text` as a pattern that also matches white space next to punctuation (`"}` matches
    the pretty-printed `"` newline `}`), but never inside a word."""
    pattern = re.escape(text[0])
    for before, after in itertools.pairwise(text):
        pattern += ("" if _word(before) and _word(after) else r"\s*") + re.escape(after)
    return pattern


def _word(character: str) -> bool:
    return character.isalnum() or character == "_"


def shown(expected: tuple[str, ...], output: str) -> bool:
    """Whether `output` is what the README shows as `expected`."""
    if not any(line.startswith(DATABASE_LINE) for line in expected):
        output = "".join(
            line for line in output.splitlines(keepends=True) if not line.startswith(DATABASE_LINE)
        )
    return output_pattern(expected).fullmatch(output.strip()) is not None


def script(all_steps: list[Step], outputs: Path) -> str:
    """One bash script that runs every step in the same shell, each step's output and
    exit status to its own files. Braces, not a subshell: `export`, `cd` and variables
    carry over to the next step, as in a terminal."""
    parts = []
    for number, step in enumerate(all_steps):
        out = shlex.quote(str(outputs / f"{number}.out"))
        status = shlex.quote(str(outputs / f"{number}.status"))
        parts.append(f"{{\n{step.command}\n}} </dev/null >{out} 2>&1\necho $? >{status}\n")
    return "".join(parts)


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """The reader's environment: a new HOME, no OPTLEDGER_* settings, this test run's
    optledger first on PATH, and the port the server listens on."""
    (tmp_path / "home").mkdir()
    (tmp_path / "tmp").mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPTLEDGER_", "XDG_", "PYTHON"))
    }
    env |= {
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return env


@pytest.fixture
def server(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`optledger serve` as scripts/start runs it (from the clone, no settings), on a free
    port; its address."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    environment |= {"OPTLEDGER_PORT": str(port), "OPTLEDGER_PUBLIC_URL": f"http://{address}"}
    log = tmp_path / "server.log"
    command = [str(Path(sys.executable).parent / "optledger"), "serve"]
    with serving(command, base_url=f"http://{address}", env=environment, cwd=REPO, log=log):
        yield address
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    assert "ERROR" not in text, text


def test_the_first_block_is_the_two_commands():
    first = sh_blocks(README.read_text(encoding="utf-8"))[0]

    assert [shlex.split(line, comments=True) for line in first.lines] == SETUP_COMMANDS


def test_the_exit_code_table_lists_every_code_the_commands_use():
    text = README.read_text(encoding="utf-8")
    table = text[text.index("### Exit codes") : text.index("## Configuration")]
    codes = [int(row.group(1)) for row in re.finditer(r"^\| (\d) \|", table, re.MULTILINE)]

    assert codes == list(range(8))
    assert {code for _, code in EXIT_CODES} | {0, 2} == set(codes)


def test_the_readme_runs_as_written(server: str, environment: dict[str, str], tmp_path: Path):
    text = README.read_text(encoding="utf-8").replace(README_ADDRESS, server)
    _, *blocks = sh_blocks(text)
    all_steps = [step for block in blocks for step in steps(block)]
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (tmp_path / "readme.sh").write_text(script(all_steps, outputs), encoding="utf-8")
    data = Path(environment["HOME"]) / ".local" / "share" / "optledger"
    server_files = {p.name for p in data.iterdir()}
    assert {"optledger.db", "optledger.secret"} <= server_files

    shell = subprocess.Popen(  # noqa: S603 - a fixed command line
        ["/bin/bash", "--noprofile", "--norc", str(tmp_path / "readme.sh")],
        env=environment,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        shell.wait(timeout=RUN_TIMEOUT)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()

    failures = []
    for number, step in enumerate(all_steps):
        status_file = outputs / f"{number}.status"
        if not status_file.exists():
            failures.append(f"README line {step.line}: did not finish\n{step.command}")
            break
        status = int(status_file.read_text())
        output = (outputs / f"{number}.out").read_text(errors="replace")
        if status != 0 or not shown(step.expected, output):
            failures.append(
                f"README line {step.line}: exit {status}\n{step.command}\n"
                f"--- shown:\n" + "\n".join(step.expected) + f"\n--- printed:\n{output}"
            )
    assert not failures, "\n\n".join(failures)
    assert len(all_steps) >= 20
    # The tour ran in a scratch directory, on the server's database: none was made there.
    # (The first write makes the file through which writers take turns.)
    assert {p.name for p in data.iterdir()} - server_files <= {"optledger.db-writers"}
    scratch = list((tmp_path / "tmp").iterdir())
    assert len(scratch) == 1
    assert (scratch[0] / "optouts.csv").is_file()
    assert list(scratch[0].rglob("optledger.*")) == []


@pytest.mark.parametrize(
    ("expected", "output"),
    [
        (("rows 2, changed 2",), "rows 2, changed 2\n"),
        (('{"a": 1,', '  "b": [1, 2]}'), '{"a":1,"b":[1,2]}'),
        (('{"id": …, "name": "acme", ...}',), '{"id": 7, "name": "acme", "x": {"y": 1}}'),
        (
            ("carol@example.com", "checked 3"),
            "optledger: database /x/optledger.db\ncarol@example.com\nchecked 3\n",
        ),
        (("optledger: database …/optledger.db",), "optledger: database /x/optledger.db\n"),
        ((), ""),
        ((), "optledger: database /x/optledger.db\n"),
    ],
)
def test_an_output_as_shown_matches(expected: tuple[str, ...], output: str):
    assert shown(expected, output) is True


@pytest.mark.parametrize(
    ("expected", "output"),
    [
        (("rows 2, changed 2",), "rows 2, changed 3\n"),
        (("rows 2",), "rows2\n"),
        (("carol@example.com",), "carol@example.com\nbob@example.com\n"),
        (('{"id": …, "name": "acme"}',), '{"id": 7, "name": "globex"}'),
        ((), "Created topic news\n"),
        (("exit 6",), "exit 3\n"),
    ],
)
def test_an_output_that_differs_does_not_match(expected: tuple[str, ...], output: str):
    assert shown(expected, output) is False


def test_a_block_is_read_into_commands_and_their_outputs():
    block = Block(
        line=10,
        lines=(
            "# prose about the next step",
            "export A=1",
            "curl -s -X POST http://x \\",
            '  -d \'{"a": [1,',
            "         2]}'",
            '# {"ok": true}',
            "#   indented",
            "",
            "# more prose",
            'false; echo "exit $?"   # a trailing comment',
            "# exit 1",
        ),
    )

    assert steps(block) == [
        Step(11, "export A=1", ()),
        Step(
            12,
            "curl -s -X POST http://x \\\n  -d '{\"a\": [1,\n         2]}'",
            ('{"ok": true}', "  indented"),
        ),
        Step(19, 'false; echo "exit $?"   # a trailing comment', ("exit 1",)),
    ]
