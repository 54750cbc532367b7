from __future__ import annotations

from tests.helpers import Api


async def test_every_account_has_builtin_name_fields(api: Api) -> None:
    listing = (await api.get("/fields")).json()
    # Oldest first (CONVENTIONS §6), as in the seed's example.
    assert [(f["key"], f["label"], f["type"], f["default"]) for f in listing["data"]] == [
        ("first_name", "First Name", "text", ""),
        ("last_name", "Last Name", "text", ""),
    ]
    builtin = listing["data"][0]
    refused = await api.delete(f"/fields/{builtin['field_id']}")
    assert refused.status_code == 422
    assert (await api.get(f"/fields/{builtin['field_id']}")).status_code == 200


async def test_field_crud_per_seed(api: Api) -> None:
    created = await api.created("/fields", {"label": "gender", "type": "text", "key": "gender", "default": ""})
    assert set(created) == {"field_id", "label", "type", "key", "default"}
    patched = await api.patch(
        f"/fields/{created['field_id']}", {"label": "gender", "type": "text", "key": "gender", "default": "male"}
    )
    assert patched.status_code == 200
    assert patched.json()["default"] == "male"
    assert (await api.delete(f"/fields/{created['field_id']}")).status_code == 204
    assert (await api.get(f"/fields/{created['field_id']}")).status_code == 404


async def test_field_key_rules(api: Api) -> None:
    for bad_key in ("Phone", "1phone", "pho-ne", "a" * 65, ""):
        response = await api.post("/fields", {"label": "Phone", "type": "text", "key": bad_key})
        assert response.status_code == 422, bad_key
        assert "key" in response.json()["errors"]
    await api.created("/fields", {"label": "Phone", "type": "text", "key": "phone"})
    taken = await api.post("/fields", {"label": "Other", "type": "textarea", "key": "phone"})
    assert taken.json()["errors"] == {"key": ["The key has already been taken."]}
    bad_type = await api.post("/fields", {"label": "X", "type": "number", "key": "x"})
    assert bad_type.json()["errors"] == {"type": ["The selected type is invalid."]}


async def test_renaming_a_key_moves_contact_values_and_deleting_drops_them(api: Api) -> None:
    field = await api.created("/fields", {"label": "Phone", "type": "text", "key": "phone"})
    contact = await api.created("/contacts", {"email": "a@example.com", "fields": {"phone": "555"}})
    untouched = await api.created("/contacts", {"email": "b@example.com"})

    await api.patch(f"/fields/{field['field_id']}", {"key": "mobile"})
    moved = (await api.get(f"/contacts/{contact['contact_id']}")).json()
    assert moved["fields"] == {"first_name": None, "last_name": None, "mobile": "555"}
    assert (await api.get(f"/contacts/{untouched['contact_id']}")).json()["fields"] == {
        "first_name": None,
        "last_name": None,
    }

    await api.delete(f"/fields/{field['field_id']}")
    dropped = (await api.get(f"/contacts/{contact['contact_id']}")).json()
    assert "mobile" not in dropped["fields"]


async def test_field_default_applies_to_new_contacts(api: Api) -> None:
    await api.created("/fields", {"label": "Plan", "type": "text", "key": "plan", "default": "free"})
    contact = await api.created("/contacts", {"email": "d@example.com"})
    assert contact["fields"]["plan"] == "free"
    given = await api.created("/contacts", {"email": "e@example.com", "fields": {"plan": "pro"}})
    assert given["fields"]["plan"] == "pro"


async def test_builtin_keys_cannot_be_renamed(api: Api) -> None:
    builtin = (await api.get("/fields")).json()["data"][0]
    response = await api.patch(f"/fields/{builtin['field_id']}", {"key": "given_name"})
    assert response.status_code == 422
    relabel = await api.patch(f"/fields/{builtin['field_id']}", {"label": "Given name"})
    assert relabel.status_code == 200
    assert relabel.json()["key"] == "first_name"


async def test_builtin_fields_keep_their_type(api: Api) -> None:
    builtin = (await api.get("/fields")).json()["data"][1]
    refused = await api.patch(f"/fields/{builtin['field_id']}", {"type": "textarea"})
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"type": ["The type of a built-in field cannot be changed."]}
    assert (await api.get(f"/fields/{builtin['field_id']}")).json()["type"] == "text"
    unchanged = await api.patch(f"/fields/{builtin['field_id']}", {"type": "text", "label": "Surname"})
    assert unchanged.status_code == 200
    assert unchanged.json()["label"] == "Surname"


async def test_builtin_name_values_are_capped_at_255_characters(api: Api) -> None:
    too_long = await api.post("/contacts", {"email": "long@example.com", "fields": {"first_name": "a" * 256}})
    assert too_long.status_code == 422
    assert too_long.json()["errors"] == {
        "fields.first_name": ["The fields.first_name may not be greater than 255 characters."]
    }
    contact = await api.created("/contacts", {"email": "long@example.com", "fields": {"last_name": "b" * 255}})
    assert contact["fields"]["last_name"] == "b" * 255
    patched = await api.patch(f"/contacts/{contact['contact_id']}", {"fields": {"last_name": "b" * 1000}})
    assert patched.status_code == 422
    assert list(patched.json()["errors"]) == ["fields.last_name"]
    assert (await api.get(f"/contacts/{contact['contact_id']}")).json()["fields"]["last_name"] == "b" * 255
    # A custom text field still takes up to 1000 characters.
    await api.created("/fields", {"label": "Bio", "type": "text", "key": "bio"})
    bio = await api.patch(f"/contacts/{contact['contact_id']}", {"fields": {"bio": "c" * 1000}})
    assert bio.status_code == 200


async def test_a_key_with_a_trailing_newline_is_refused(api: Api) -> None:
    response = await api.post("/fields", {"label": "ABC", "type": "text", "key": "abc\n"})
    assert response.status_code == 422
    assert "key" in response.json()["errors"]
    renamed = await api.created("/fields", {"label": "ABC", "type": "text", "key": "abc"})
    rename = await api.patch(f"/fields/{renamed['field_id']}", {"key": "abd\n"})
    assert rename.status_code == 422
    assert (await api.get(f"/fields/{renamed['field_id']}")).json()["key"] == "abc"
