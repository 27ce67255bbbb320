"""Production pages render for a signed-in user and load their script (checked in Chromium by hand)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ifactory.platform import Platform


def test_production_pages_render(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    r = client.post(
        "/api/production/orders",
        json={"number": "PO-9", "product_code": "P-100", "quantity": 10},
        headers=admin,
    )
    assert r.status_code == 201
    client.post("/api/auth/login", json={"username": "admin", "password": "s3cret-pass"})
    for url, text in [
        ("/production/oee", "All lines"),
        ("/production/oee?node=acme/springfield/press_shop/press_line", "Six big losses"),
        ("/production/downtime", "Pareto by time"),
        ("/production/orders", "Production orders"),
        (f"/production/orders/{r.json()['id']}", "Operations"),
    ]:
        page = client.get(url)
        assert page.status_code == 200, url
        assert text in page.text and "production.js" in page.text
        assert 'aria-current="page">Production<' in page.text
    assert client.get("/static/production.js").status_code == 200
