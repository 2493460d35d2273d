"""A Pipedrive-shaped API: v2 list endpoints with `updated_since` and cursor paging, v1 users.

From Pipedrive's API reference ("API v2 overview", "Pagination", "Rate limiting", "Authentication"):
`GET /api/v2/{deals,persons,organizations,activities}?updated_since=<RFC 3339>&sort_by=update_time&
sort_direction=asc&limit=<= 500&cursor=...` answers `{success, data[], additional_data{next_cursor}}`
(next_cursor null on the last page); ids are integers; times read `2025-06-02T08:00:00Z`; deal `status`
is open / won / lost; custom fields sit under `custom_fields` keyed by a 40-character hash. `GET
/api/v1/users` lists users in one answer. The token goes in the `x-api-token` header; a bad token
answers 401 `{success: false, error: "unauthorized access", errorCode: 401}`; the rate limit answers
429 `{success: false, error: "Request over limit"}` with `x-ratelimit-*` headers. Pipedrive has no
tickets object.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from tests.helpers.http_server import Reply, Request

from .base import VendorApi, iso_s

V2 = {"organizations": "accounts", "persons": "contacts", "deals": "deals", "activities": "activities"}
TIER_FIELD = "3f2a1b7c9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70"  # a custom field's key, as Pipedrive names them


def render(obj: str, r: dict) -> dict:
    row = {"id": r["n"], "add_time": iso_s(r["created"]), "update_time": iso_s(r["modified"])}
    if "owner" in r:
        row["owner_id"] = r["owner"]
    if obj == "accounts":
        return row | {"name": r["name"], "address": {"country": r["country"]}, "custom_fields": {TIER_FIELD: r["tier"]}}
    if obj == "contacts":
        return row | {"name": f"{r['first']} {r['last']}", "first_name": r["first"], "last_name": r["last"],
                      "emails": [{"value": r["email"], "primary": True, "label": "work"}], "org_id": r["account"],
                      "job_title": r["title"]}
    if obj == "deals":
        status = "won" if r["won"] else "lost" if r["closed"] else "open"
        return row | {"title": r["name"], "status": status, "stage_id": 1 + list(
            ["qualification", "needs_analysis", "proposal", "negotiation", "won", "lost"]).index(r["stage"]),
            "pipeline_id": 1, "value": float(r["amount"]), "currency": r["currency"],
            "expected_close_date": r["close"].isoformat(), "org_id": r["account"], "custom_fields": {}}
    return row | {"subject": r["subject"], "type": r["type"], "due_date": r["at"].date().isoformat(),
                  "due_time": r["at"].strftime("%H:%M"), "person_id": r["contact"], "org_id": r["account"],
                  "deal_id": r["deal"], "done": False}


class PipedriveApi(VendorApi):
    FULL_READ = ("users",)

    def authorized(self, req: Request) -> bool:
        return req.headers.get("x-api-token") == self.token or req.query.get("api_token") == self.token

    def handle(self, req: Request) -> Reply:
        if req.path == "/api/v1/users":
            users = [{"id": u["n"], "name": f"{u['first']} {u['last']}", "email": u["email"], "active_flag": True,
                      "created": u["created"].strftime("%Y-%m-%d %H:%M:%S"),
                      "modified": u["modified"].strftime("%Y-%m-%d %H:%M:%S")} for u in self.store.objects["users"]]
            return Reply(200, {"success": True, "data": users})
        name = req.path.removeprefix("/api/v2/")
        if not req.path.startswith("/api/v2/") or name not in V2:
            return Reply(404, {"success": False, "error": "Unknown method .", "errorCode": 404})
        obj, q = V2[name], req.query
        limit = int(q.get("limit", 100))
        if limit > 500:
            return _bad("limit must be less than or equal to 500")
        if (q.get("sort_by", "id"), q.get("sort_direction", "asc")) != ("update_time", "asc"):
            return _bad("this test server sorts by update_time asc only")
        since = None
        if "updated_since" in q:
            try:
                since = datetime.fromisoformat(q["updated_since"].replace("Z", "+00:00"))
            except ValueError:
                return _bad("updated_since must be an RFC 3339 date-time")
        start = json.loads(base64.b64decode(q["cursor"]))["offset"] if q.get("cursor") else 0
        rows = self.store.changed_since(obj, since)
        page = rows[start:start + limit]
        nxt = base64.b64encode(json.dumps({"offset": start + limit}).encode()).decode() \
            if start + limit < len(rows) else None
        return Reply(200, {"success": True, "data": [render(obj, r) for r in page],
                           "additional_data": {"next_cursor": nxt}})

    def unauthorized(self) -> Reply:
        return Reply(401, {"success": False, "error": "unauthorized access", "errorCode": 401,
                           "error_info": "Please check developers.pipedrive.com"})

    def rate_limited(self) -> Reply:
        return Reply(429, {"success": False, "error": "Request over limit", "errorCode": 429},
                     headers={"x-ratelimit-limit": "80", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"})


def _bad(message: str) -> Reply:
    return Reply(400, {"success": False, "error": message, "code": "ERR_SCHEMA_VALIDATION_FAILED"})
