import pytest

SUPPRESSED = "email\nAnn@Example.com\n"
ADDRESSES = "Ann@Example.com\nbob@example.com\n\n  \nnot-an-address\nCARL@example.com\n"


@pytest.fixture
def digest(run, tenant, tmp_path):
    """An opt-out marketing topic on email, and ann@example.com suppressed."""
    created = run(
        "topic", "create", "--tenant", "acme", "digest", "--name", "D", "--mode", "opt_out"
    )
    assert created.exit_code == 0
    path = tmp_path / "suppressed.csv"
    path.write_text(SUPPRESSED, encoding="utf-8")
    imported = run("import", "suppressions", "--tenant", "acme", str(path))
    assert imported.exit_code == 0


def test_check_prints_the_allowed_addresses_normalised(run, digest):
    result = run(
        "check", "--tenant", "acme", "--topic", "digest", "--channel", "email", input=ADDRESSES
    )

    assert result.exit_code == 0
    assert result.stdout == "bob@example.com\ncarl@example.com\n"
    assert result.stderr == (
        "checked 4: 2 allowed, 2 blocked\n  invalid_address: 1\n  suppressed: 1\n"
    )


def test_check_reads_a_file(run, digest, tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(ADDRESSES, encoding="utf-8")

    result = run("check", "--tenant", "acme", "--topic", "digest", "--channel", "email", str(path))

    assert result.exit_code == 0
    assert result.stdout == "bob@example.com\ncarl@example.com\n"


def test_check_on_a_channel_the_topic_does_not_use(run, digest):
    result = run(
        "check", "--tenant", "acme", "--topic", "digest", "--channel", "sms", input="+16502530000\n"
    )

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "checked 1: 0 allowed, 1 blocked\n  channel_not_enabled: 1\n"


def test_check_goes_through_lists_longer_than_one_batch(run, digest):
    lines = "".join(f"user{i}@example.com\n" for i in range(10_005))

    result = run(
        "check", "--tenant", "acme", "--topic", "digest", "--channel", "email", input=lines
    )

    assert result.exit_code == 0
    assert result.stdout == lines
    assert result.stderr == "checked 10005: 10005 allowed, 0 blocked\n"


def test_check_of_an_empty_list(run, digest):
    result = run("check", "--tenant", "acme", "--topic", "digest", "--channel", "email", input="")

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "checked 0: 0 allowed, 0 blocked\n"


def test_an_unknown_topic_blocks_every_address_as_the_rest_api_does(run, tenant):
    result = run(
        "check",
        "--tenant",
        "acme",
        "--topic",
        "nope",
        "--channel",
        "email",
        input="a@example.com\nB@example.com\n",
    )

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "checked 2: 0 allowed, 2 blocked\n  unknown_topic: 2\n"


def test_missing_file_is_a_usage_error(run, digest, tmp_path):
    result = run(
        "check",
        "--tenant",
        "acme",
        "--topic",
        "digest",
        "--channel",
        "email",
        str(tmp_path / "missing.txt"),
    )

    assert result.exit_code == 2
    assert "is not a readable file" in result.stderr


def test_unknown_channel_is_a_usage_error(run, digest):
    result = run("check", "--tenant", "acme", "--topic", "digest", "--channel", "fax", input="")

    assert result.exit_code == 2
    assert "Invalid value for '--channel'" in result.stderr
