"""No credential in a message: the password and the extra's secrets, as written and URL-encoded,
and anything shaped like one in a DSN or a URI."""

from __future__ import annotations

from tributary.failures import AuthenticationFailed, Target, failure, mask, secrets_of


def test_the_password_and_the_extras_secrets_are_collected() -> None:
    extra = {
        "sslmode": "require",
        "token": "tok-123456",
        "nested": {"client_secret": "cs-98765"},
        "flag": True,
    }
    assert secrets_of("p@ss w0rd", extra) == ("p@ss w0rd", "tok-123456", "cs-98765")
    assert secrets_of(None, {}) == ()
    assert secrets_of("ab", {}) == (), "too short to mask without blanking out words"


def test_secrets_are_masked_as_written_and_url_encoded() -> None:
    text = "failed for p@ss w0rd at postgresql://app:p%40ss%20w0rd@db/x and p%40ss+w0rd"
    masked = mask(text, ["p@ss w0rd"])
    assert "w0rd" not in masked
    assert masked.count("***") == 3


def test_credential_shapes_are_masked_whatever_the_value() -> None:
    assert mask("host=db password=hunter2 user=app") == "host=db password=*** user=app"
    assert mask("Server=db;PWD={x};UID=sa") == "Server=db;PWD=***;UID=sa"
    assert mask("mssql://sa:Secret1@host:1433/db") == "mssql://sa:***@host:1433/db"
    assert mask('password authentication failed for user "app"') == (
        'password authentication failed for user "app"'
    ), "words about passwords stay"


def test_a_failure_message_never_holds_the_secret() -> None:
    target = Target("pos", "postgres", "db", 5432, "app", "shop", secrets=("Sup3r-secret",))
    made = failure(AuthenticationFailed, target, driver_message="rejected Sup3r-secret for app")
    assert "Sup3r-secret" not in str(made) and "Sup3r-secret" not in (made.driver_message or "")
