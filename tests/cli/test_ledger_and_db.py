def test_ledger_verify_consistent(run, tenant, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("email\na@example.com\nb@example.com\na@example.com\n", encoding="utf-8")
    assert run("import", "suppressions", "--tenant", "acme", str(path)).exit_code == 0

    result = run("ledger", "verify", "--tenant", "acme")

    assert result.exit_code == 0
    assert result.stdout == "consistent (3 events)\n"


def test_ledger_verify_of_an_unknown_tenant_exits_with_3(run):
    result = run("ledger", "verify", "--tenant", "nope")

    assert result.exit_code == 3
    assert result.stderr == "tenant 'nope' was not found\n"


def test_db_upgrade_creates_the_database_and_the_check_finds_no_drift(run, env):
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0
    assert upgraded.stdout == "database is at the latest migration\n"

    checked = run("db", "check")
    assert checked.exit_code == 0
    assert checked.stdout == "no drift: the schema matches the table definitions\n"
