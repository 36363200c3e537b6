"""What the UI tests share besides fixtures: the test password, signing in as a person does,
and what a robot secret looks like."""

import re

BCRYPT_COST = 4
# What the dialogs of the plain test server show as the registry's address (its realm's host).
REGISTRY_HOST = "registry.example.com"
PASSWORD = "correct horse battery staple"
# Quay's format, which regauth keeps: 64 characters from [A-Z0-9].
SECRET_RE = re.compile(r"^[A-Z0-9]{64}$")


def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does; ends on the organizations page."""
    page.goto(base_url + "/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/organizations$"))
