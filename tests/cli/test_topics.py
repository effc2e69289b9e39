import json
from datetime import datetime


def topic_json(stdout: str) -> dict[str, object]:
    body = json.loads(stdout)
    datetime.fromisoformat(body.pop("created_at"))
    return body


def test_topic_create_with_every_option(run, tenant):
    result = run(
        "topic",
        "create",
        "--tenant",
        "acme",
        "news",
        "--name",
        "Weekly news",
        "--category",
        "marketing",
        "--mode",
        "opt_out",
        "--double-opt-in",
        "--channel",
        "sms",
        "--channel",
        "email",
        "--json",
    )

    assert result.exit_code == 0
    assert topic_json(result.stdout) == {
        "id": 1,
        "key": "news",
        "name": "Weekly news",
        "category": "marketing",
        "consent_mode": "opt_out",
        "double_opt_in": True,
        "channels": ["email", "sms"],
        "unsubscribable": True,
    }


def test_topic_create_defaults(run, tenant):
    result = run(
        "topic",
        "create",
        "--tenant",
        "acme",
        "receipts",
        "--name",
        "Receipts",
        "--category",
        "transactional",
        "--json",
    )

    assert result.exit_code == 0
    assert topic_json(result.stdout) == {
        "id": 1,
        "key": "receipts",
        "name": "Receipts",
        "category": "transactional",
        "consent_mode": "opt_in",
        "double_opt_in": False,
        "channels": ["email"],
        "unsubscribable": False,
    }


def test_topic_create_summary(run, tenant):
    result = run("topic", "create", "--tenant", "acme", "news", "--name", "News")

    assert result.exit_code == 0
    assert result.stdout == "Created topic news (id 1): marketing, opt_in, on email.\n"


def test_topic_list(run, tenant):
    run("topic", "create", "--tenant", "acme", "news", "--name", "News")
    run("topic", "create", "--tenant", "acme", "digest", "--name", "Digest", "--mode", "opt_out")

    result = run("topic", "list", "--tenant", "acme", "--json")

    assert result.exit_code == 0
    topics = json.loads(result.stdout)
    assert [(t["key"], t["name"], t["consent_mode"]) for t in topics] == [
        ("news", "News", "opt_in"),
        ("digest", "Digest", "opt_out"),
    ]


def test_duplicate_topic_exits_with_4(run, tenant):
    run("topic", "create", "--tenant", "acme", "news", "--name", "News")

    result = run("topic", "create", "--tenant", "acme", "news", "--name", "News again")

    assert result.exit_code == 4
    assert result.stderr == "key: a topic 'news' already exists\n"


def test_bad_category_is_a_usage_error(run, tenant):
    result = run("topic", "create", "--tenant", "acme", "news", "--name", "N", "--category", "spam")

    assert result.exit_code == 2
    assert "Invalid value for '--category'" in result.stderr
