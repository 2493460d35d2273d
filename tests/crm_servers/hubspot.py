"""A HubSpot-shaped CRM v3 API: `POST /crm/v3/objects/{object}/search` and `GET /crm/v3/owners`.

From HubSpot's CRM API reference ("Search the CRM", "Owners", "Error handling", "Usage details"):
search takes a JSON body `{filterGroups[{filters[{propertyName, operator, value}]}], sorts, properties,
limit (<= 200), after}` and answers `{total, results[{id, properties{...}, createdAt, updatedAt,
archived}], paging{next{after}}}`; every property value is a string; date filters take epoch
milliseconds; contacts name their modification property `lastmodifieddate`, other objects
`hs_lastmodifieddate`; paging past 10,000 results is refused with 400. Owners page with `after` and
`limit` (<= 500) but take no change filter. Bearer token (private app); 401 and 429 bodies
`{status: error, message, category|errorType, correlationId}`. Engagements are objects of their own:
the preset reads `calls` as activities.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.helpers.http_server import Reply, Request

from .base import VendorApi, iso_ms

OBJECTS = {"companies": "accounts", "contacts": "contacts", "deals": "deals", "calls": "activities",
           "tickets": "tickets"}
STAGES = {"qualification": "appointmentscheduled", "needs_analysis": "qualifiedtobuy",
          "proposal": "presentationscheduled", "negotiation": "contractsent", "won": "closedwon",
          "lost": "closedlost"}
SEARCH_CAP = 10_000


def hs_id(obj: str, n: int) -> str:
    return str({"accounts": 5_000_000, "contacts": 7_000_000, "deals": 9_000_000, "activities": 3_000_000,
                "tickets": 4_000_000, "users": 100}[obj] + n)


def properties(obj: str, r: dict) -> dict:
    modified = "lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"
    p = {"hs_object_id": hs_id(obj, r["n"]), "createdate": iso_ms(r["created"]), modified: iso_ms(r["modified"])}
    if "owner" in r:
        p["hubspot_owner_id"] = hs_id("users", r["owner"])
    if obj == "accounts":
        p |= {"name": r["name"], "domain": r["domain"], "industry": r["industry"].upper(), "country": r["country"],
              "customer_tier": r["tier"]}  # a custom property
    elif obj == "contacts":
        p |= {"firstname": r["first"], "lastname": r["last"], "email": r["email"], "jobtitle": r["title"],
              "associatedcompanyid": hs_id("accounts", r["account"])}
    elif obj == "deals":
        p |= {"dealname": r["name"], "pipeline": "default", "dealstage": STAGES[r["stage"]], "amount": r["amount"],
              "deal_currency_code": r["currency"], "closedate": r["close"].isoformat() + "T00:00:00.000Z",
              "hs_is_closed_won": str(r["won"]).lower(), "hs_is_closed": str(r["closed"]).lower()}
    elif obj == "activities":
        p |= {"hs_call_title": r["subject"], "hs_timestamp": iso_ms(r["at"]), "hs_call_direction": "OUTBOUND"}
    else:
        p |= {"subject": r["subject"], "hs_pipeline_stage": r["status"], "hs_ticket_priority": r["priority"].upper()}
    return p


class HubspotApi(VendorApi):
    FULL_READ = ("users",)

    def handle(self, req: Request) -> Reply:
        parts = req.path.strip("/").split("/")
        if req.method == "POST" and len(parts) == 5 and parts[:3] == ["crm", "v3", "objects"] and parts[4] == "search":
            return self._search(parts[3], req)
        if req.method == "GET" and parts == ["crm", "v3", "owners"]:
            return self._owners(req)
        return _error(404, "OBJECT_NOT_FOUND", f"Unable to infer object type from: {parts[3:4]}")

    def _search(self, object_type: str, req: Request) -> Reply:
        if object_type not in OBJECTS:
            return _error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        obj = OBJECTS[object_type]
        body = json.loads(req.body or b"{}")
        limit, after = int(body.get("limit", 10)), int(body.get("after") or 0)
        if limit > 200:
            return _error(400, "VALIDATION_ERROR", "limit must be less than or equal to 200")
        if after >= SEARCH_CAP:
            return _error(400, "VALIDATION_ERROR", "paging past 10,000 results is not supported")
        since, modified = None, "lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"
        for group in body.get("filterGroups", []):
            for f in group.get("filters", []):
                if f.get("propertyName") != modified or f.get("operator") != "GTE":
                    return _error(400, "VALIDATION_ERROR", f"unsupported filter in this test server: {f}")
                since = datetime.fromtimestamp(int(f["value"]) / 1000, tz=UTC)
        wanted = body.get("properties") or []
        rows = self.store.changed_since(obj, since)
        page = rows[after:after + limit]
        results = [{"id": hs_id(obj, r["n"]), "properties": {k: v for k, v in properties(obj, r).items()
                                                              if k in wanted or k in ("hs_object_id", modified)},
                    "createdAt": iso_ms(r["created"]), "updatedAt": iso_ms(r["modified"]), "archived": False}
                   for r in page]
        out = {"total": len(rows), "results": results}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, out)

    def _owners(self, req: Request) -> Reply:
        limit, after = int(req.query.get("limit", 100)), int(req.query.get("after") or 0)
        users = self.store.objects["users"]
        results = [{"id": hs_id("users", u["n"]), "email": u["email"], "firstName": u["first"],
                    "lastName": u["last"], "userId": 9000 + u["n"], "createdAt": iso_ms(u["created"]),
                    "updatedAt": iso_ms(u["modified"]), "archived": False} for u in users[after:after + limit]]
        out: dict = {"results": results}
        if after + limit < len(users):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, out)

    def unauthorized(self) -> Reply:
        return Reply(401, {"status": "error", "message": "Authentication credentials not found.",
                           "correlationId": "c0ffee00-0000-4000-8000-000000000001",
                           "category": "INVALID_AUTHENTICATION"})

    def rate_limited(self) -> Reply:
        return Reply(429, {"status": "error", "message": "You have reached your secondly limit.",
                           "errorType": "RATE_LIMIT", "correlationId": "c0ffee00-0000-4000-8000-000000000002",
                           "policyName": "SECONDLY"})


def _error(status: int, category: str, message: str) -> Reply:
    return Reply(status, {"status": "error", "message": message, "category": category,
                          "correlationId": "c0ffee00-0000-4000-8000-000000000003"})
