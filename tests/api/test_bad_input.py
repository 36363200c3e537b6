"""Bad input is a 400 naming what is wrong, never a 500, and nothing is half-written.

Lone surrogates and NULs in JSON fields, query values and form fields; dates the code cannot
represent; scopes outside the registry's grammar.
"""

import base64

import jwt
import pytest

from tests.api.conftest import assert_error
from tests.conftest import SERVICE

LONE_SURROGATE = "\ud800"
ROBOTS = "/api/v1/organization/acme/robots"


@pytest.mark.parametrize("bad", [LONE_SURROGATE, "a\udfffb", "nul\x00inside"])
async def test_a_robot_description_that_is_not_text_is_a_400(api, alice, acme, store, bad):
    reply = await api.put(f"{ROBOTS}/ci", alice, json_body={"description": bad})
    assert_error(reply, 400, "invalid_request")
    assert "'description'" in reply.body["detail"]
    assert store.list_robots("acme") == []


async def test_a_federation_subject_with_a_lone_surrogate_is_a_400(api, alice, acme, store):
    store.create_robot("acme+ci")
    body = [{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:" + LONE_SURROGATE}]
    reply = await api.post(f"{ROBOTS}/ci/federation", alice, json_body=body)
    assert_error(reply, 400, "invalid_request")
    assert "entry 0" in reply.body["detail"] and "'subject'" in reply.body["detail"]
    assert store.list_federations("acme+ci") == []


async def test_an_unverified_issuer_with_a_lone_surrogate_is_refused(client, store):
    store.create_namespace("acme")
    store.create_robot("acme+ci")
    token = jwt.encode({"iss": "https://x" + LONE_SURROGATE, "sub": "s"}, "k" * 32, algorithm="HS256")
    header = "Basic " + base64.b64encode(f"acme+ci:{token}".encode()).decode()
    response = await client.get("/oauth2/federation/robot/token", headers={"Authorization": header})
    assert response.status == 401, await response.text()
    body = await response.json()
    assert "iss" in body["details"]


@pytest.mark.parametrize("param", ["endtime", "starttime"])
@pytest.mark.parametrize("day", ["12/31/9999", "9999-12-31", "01/01/0001"])
async def test_a_log_date_out_of_range_is_a_400_naming_the_parameter(api, alice, acme, param, day):
    reply = await api.get(f"/api/v1/organization/acme/logs?{param}={day}", alice)
    assert_error(reply, 400, "invalid_request")
    assert param in reply.body["detail"] and "MM/DD/YYYY" in reply.body["detail"]


async def test_the_last_representable_day_is_accepted(api, alice, acme):
    reply = await api.get("/api/v1/organization/acme/logs?starttime=01/01/1970&endtime=12/31/9998", alice)
    assert reply.status == 200, reply


async def test_a_nul_in_a_query_value_is_a_400_naming_it(api, alice, acme):
    reply = await api.get("/api/v1/organization/acme/logs?performer=a%00b", alice)
    assert_error(reply, 400, "invalid_request")
    assert "'performer'" in reply.body["detail"]


async def test_a_nul_in_a_token_request_is_a_400_in_the_token_shape(client):
    response = await client.get("/token", params={"service": SERVICE, "account": "a\x00b"})
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["code"] == "INVALID_REQUEST" and "'account'" in body["details"]


async def test_a_nul_in_a_token_form_field_is_a_400(client):
    response = await client.post("/token", data={"service": SERVICE, "grant_type": "password",
                                                 "username": "acme+ci", "password": "x\x00y"})
    assert response.status == 400
    assert "password" in (await response.json())["details"]


# -- scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "code", "problem"),
    [
        ("repository:acme/..:pull", "NAME_INVALID", "component"),
        ("repository:acme/.x:pull", "NAME_INVALID", "component"),
        ("repository:acme/" + "a" * 251 + ":pull", "NAME_INVALID", "255"),
        ("repository:acme/app:pull,blah", "INVALID_REQUEST", "unknown action 'blah'"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_scope_outside_the_grammar_is_a_400_naming_it(client, store, scope, code, problem, method):
    store.create_namespace("acme")
    store.create_repository("acme/app")
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme/app", "read")
    if method == "GET":
        basic = base64.b64encode(f"acme+ci:{issued.secret}".encode()).decode()
        response = await client.get("/token", params={"service": SERVICE, "scope": scope},
                                    headers={"Authorization": f"Basic {basic}"})
    else:
        response = await client.post("/token", data={"service": SERVICE, "scope": scope, "grant_type": "password",
                                                     "username": "acme+ci", "password": issued.secret})
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["errors"][0]["code"] == code
    assert problem in body["details"] and scope[:30] in body["details"]


@pytest.mark.parametrize(
    "scope",
    ["repository:acme/app:pull,push", "repository:acme/app:*", "registry:catalog:*",
     "repository(plugin):acme/app:pull", "repository:acme/app:delete"],
)
async def test_what_clients_send_is_still_answered_with_a_token(client, store, scope):
    store.create_namespace("acme")
    store.create_repository("acme/app")
    issued = store.create_robot("acme+ci")
    basic = base64.b64encode(f"acme+ci:{issued.secret}".encode()).decode()
    response = await client.get("/token", params={"service": SERVICE, "scope": scope},
                                headers={"Authorization": f"Basic {basic}"})
    assert response.status == 200, await response.text()


@pytest.mark.parametrize("path", ["/token", "/oauth2/federation/robot/token"])
async def test_a_nul_in_the_basic_user_name_is_a_400(client, path):
    header = "Basic " + base64.b64encode(b"acme\x00+ci:secret").decode()
    response = await client.get(path, params={"service": SERVICE}, headers={"Authorization": header})
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["code"] == "INVALID_REQUEST" and "user name" in body["details"]
