"""The persona × action matrix that every API endpoint is tested against."""


def cases(expected: dict) -> list[tuple]:
    """``{endpoint: {action: {persona: status}}}`` as parametrize rows."""
    return [
        (endpoint, action, persona, status)
        for endpoint, actions in expected.items()
        for action, by_persona in actions.items()
        for persona, status in by_persona.items()
    ]


def perform(client, action: str, base: str, lookup, *, create: dict, patch: dict):
    """One CRUD action on ``base`` (list/detail/create/update/delete) as ``client``."""
    if action == "list":
        return client.get(base)
    if action == "detail":
        return client.get(f"{base}{lookup}/")
    if action == "create":
        return client.post(base, create, format="json")
    if action == "update":
        return client.patch(f"{base}{lookup}/", patch, format="json")
    return client.delete(f"{base}{lookup}/")


def assert_outcome(response, action: str, expected: int, model, before: int) -> None:
    """The status, the error body, and that a refused request changed nothing."""
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert model.objects.count() == before, "a refused request must change nothing"
        assert response.json()["status"] == expected
    if action == "create" and expected == 201:
        assert model.objects.count() == before + 1
    if action == "delete" and expected == 204:
        assert model.objects.count() == before - 1
