"""/admin/login/: attempts throttled per address; a username or an address locked out after repeated failures,
until the window passes or `manage.py unlock_login`.

Each attempt runs the password hasher (hundreds of ms on a busy 2-core machine), so most tests lower the counts;
one test checks the defaults the README documents.
"""

import pytest
from django.core.management import call_command
from django.test import Client

from hub.hits import hits
from hub.login_guard import address_key


def sign_in(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302


USERNAME_LIMIT = 3
ADDRESS_LIMIT = 4


@pytest.fixture
def many_attempts(settings):
    settings.LOGIN_ATTEMPTS = 1000  # the lockout tests make more attempts than the per-minute throttle allows
    settings.LOGIN_FAILURES_PER_USERNAME = USERNAME_LIMIT
    settings.LOGIN_FAILURES_PER_IP = ADDRESS_LIMIT


def test_the_defaults_are_the_documented_ones():
    from hub import settings as defaults

    assert (defaults.LOGIN_ATTEMPTS, defaults.LOGIN_ATTEMPTS_WINDOW) == (10, 60)
    assert (defaults.LOGIN_FAILURES_PER_USERNAME, defaults.LOGIN_FAILURES_PER_IP) == (5, 20)
    assert defaults.LOGIN_LOCKOUT_WINDOW == 15 * 60


def test_it_locks_a_username_out_after_repeated_failures_even_with_the_right_password(
    client, staff_user, many_attempts
):
    codes = [sign_in(client, "alice", f"wrong-{i}").status_code for i in range(USERNAME_LIMIT)]
    assert codes == [200] * USERNAME_LIMIT  # the form again, each time
    locked = sign_in(client, "alice", "pw-alice-123")
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in client.session
    assert sign_in(client, "ALICE ", "pw-alice-123").status_code == 429  # the same username however written


def test_another_username_from_the_same_address_is_not_locked_by_them(
    client, staff_user, django_user_model, many_attempts
):
    django_user_model.objects.create_user("bob", password="pw-bob-123", is_staff=True)
    for i in range(USERNAME_LIMIT):
        sign_in(client, "alice", f"wrong-{i}")
    assert signed_in(sign_in(Client(), "bob", "pw-bob-123"))


def test_it_locks_an_address_out_after_repeated_failures_on_any_usernames(client, staff_user, many_attempts):
    for i in range(ADDRESS_LIMIT):
        assert sign_in(client, f"user-{i}", "guess", address="203.0.113.9").status_code == 200
    assert sign_in(Client(), "alice", "pw-alice-123", address="203.0.113.9").status_code == 429
    assert signed_in(sign_in(Client(), "alice", "pw-alice-123", address="203.0.113.10"))


def test_unlock_login_lifts_the_lockout(client, staff_user, many_attempts):
    for i in range(USERNAME_LIMIT):
        sign_in(client, "alice", f"wrong-{i}")
    assert sign_in(client, "alice", "pw-alice-123").status_code == 429
    call_command("unlock_login", "--username", "alice")
    assert signed_in(sign_in(client, "alice", "pw-alice-123"))


def test_signing_in_clears_the_username_s_failures_but_not_the_address_s(client, staff_user, many_attempts):
    for i in range(USERNAME_LIMIT - 1):
        sign_in(client, "alice", f"wrong-{i}")
    assert signed_in(sign_in(client, "alice", "pw-alice-123"))
    assert sign_in(Client(), "alice", "wrong-again").status_code == 200  # counting starts again
    assert hits().count(address_key("127.0.0.1"), window=900)[0] == USERNAME_LIMIT


def test_it_throttles_attempts_from_one_address(client, staff_user, settings):
    settings.LOGIN_ATTEMPTS = 3
    codes = [sign_in(client, f"user-{i}", "guess", address="198.51.100.3").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]


def test_a_get_of_the_form_is_not_an_attempt(client, db):
    assert all(client.get("/admin/login/").status_code == 200 for _ in range(12))
