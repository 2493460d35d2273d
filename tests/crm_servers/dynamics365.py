"""A Dynamics 365 / Dataverse Web API: `GET /api/data/v9.2/<entity set>` with OData query options.

From Microsoft's Dataverse Web API docs ("Query data using the Web API", "Page results", "Service
protection API limits", "Web API errors"): `$select`, `$filter=modifiedon ge 2025-06-02T08:00:00Z`
(an unquoted DateTimeOffset literal), `$orderby`, `$expand`; the page size is asked for with the header
`Prefer: odata.maxpagesize=n` and the next page is the absolute URL in `@odata.nextLink` (with a
`$skiptoken`); rows sit in `value`; lookups read `_<name>_value`; datetimes are UTC ISO with Z; errors are
`{"error": {"code": "0x8006...", "message": ...}}`; the service-protection limit answers 429 with
`Retry-After` (seconds); a missing or expired token answers 401 with an empty body.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from tests.helpers.http_server import Reply, Request

from .base import VendorApi, iso_s

API = "/api/data/v9.2/"
SETS = {"accounts": "accounts", "contacts": "contacts", "opportunities": "deals", "systemusers": "users",
        "activitypointers": "activities", "incidents": "tickets"}
FILTER = re.compile(r"^modifiedon ge (\S+)$")
PAGE_HEADER = re.compile(r"odata\.maxpagesize=(\d+)")
STEPS = {"qualification": "1-Qualify", "needs_analysis": "2-Develop", "proposal": "3-Propose",
         "negotiation": "4-Close", "won": "4-Close", "lost": "4-Close"}
KIND = {"accounts": 0xACC0, "contacts": 0xC047, "deals": 0x0997, "users": 0x05E2, "activities": 0xAC71,
        "tickets": 0x1C1D}


def guid(obj: str, n: int) -> str:
    return f"{KIND[obj]:08x}-0000-4000-8000-{n:012x}"


def render(obj: str, r: dict) -> dict:
    row = {f"{_key(obj)}": guid(obj, r["n"]), "createdon": iso_s(r["created"]), "modifiedon": iso_s(r["modified"])}
    if "owner" in r:
        row["_ownerid_value"] = guid("users", r["owner"])
    if obj == "users":
        return row | {"fullname": f"{r['first']} {r['last']}", "internalemailaddress": r["email"]}
    if obj == "accounts":
        return row | {"name": r["name"], "websiteurl": f"http://{r['domain']}", "address1_country": r["country"],
                      "industrycode": 1 + ["Software", "Retail", "Manufacturing", "Finance", "Healthcare"]
                      .index(r["industry"])}
    if obj == "contacts":
        return row | {"firstname": r["first"], "lastname": r["last"], "emailaddress1": r["email"],
                      "jobtitle": r["title"], "_parentcustomerid_value": guid("accounts", r["account"])}
    if obj == "deals":
        closed, state = r["closed"], {"won": 1, "lost": 2}.get(r["stage"], 0)
        return row | {"name": r["name"], "stepname": STEPS[r["stage"]], "statecode": state,
                      "estimatedvalue": None if closed else float(r["amount"]),
                      "actualvalue": float(r["amount"]) if closed else None,
                      "estimatedclosedate": None if closed else r["close"].isoformat(),
                      "actualclosedate": r["close"].isoformat() if closed else None,
                      "_parentaccountid_value": guid("accounts", r["account"]),
                      "_transactioncurrencyid_value": f"{r['currency']}-guid",
                      "transactioncurrencyid": {"isocurrencycode": r["currency"]}}
    if obj == "activities":
        return row | {"activitytypecode": {"call": "phonecall", "email": "email", "meeting": "appointment"}[r["type"]],
                      "subject": r["subject"], "scheduledstart": iso_s(r["at"]),
                      "_regardingobjectid_value": guid("deals", r["deal"])}
    return row | {"title": r["subject"], "statecode": {"new": 0, "open": 0, "closed": 1}[r["status"]],
                  "prioritycode": {"high": 1, "medium": 2, "low": 3}[r["priority"]],
                  "_customerid_value": guid("accounts", r["account"]),
                  "_primarycontactid_value": guid("contacts", r["contact"])}


def _key(obj: str) -> str:
    return {"accounts": "accountid", "contacts": "contactid", "deals": "opportunityid", "users": "systemuserid",
            "activities": "activityid", "tickets": "incidentid"}[obj]


class Dynamics365Api(VendorApi):
    def handle(self, req: Request) -> Reply:
        entity_set = req.path.removeprefix(API)
        if not req.path.startswith(API) or entity_set not in SETS:
            return _error(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
        obj = SETS[entity_set]
        sample = render(obj, self.store.objects[obj][0])
        select = [s for s in req.query.get("$select", "").split(",") if s]
        bad = [s for s in select if s not in sample]
        if bad:
            return _error(400, "0x80060888", f"Could not find a property named '{bad[0]}' on type "
                                             f"'Microsoft.Dynamics.CRM.{entity_set[:-1]}'.")
        since = None
        if "$filter" in req.query:
            m = FILTER.match(req.query["$filter"].strip())
            if not m:
                return _error(400, "0x80060888", f"$filter not supported: {req.query['$filter']}")
            since = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        if req.query.get("$orderby", "modifiedon asc") != "modifiedon asc":
            return _error(400, "0x80060888", "this test server sorts by modifiedon asc only")
        m = PAGE_HEADER.search(req.headers.get("Prefer", ""))
        size, skip = (int(m.group(1)) if m else 5000), int(req.query.get("$skiptoken", 0))
        rows = self.store.changed_since(obj, since)
        expand = "transactioncurrencyid" in req.query.get("$expand", "")
        value = [{"@odata.etag": f'W/"{int(r["modified"].timestamp())}"',
                  **{k: v for k, v in render(obj, r).items()
                     if k in select or k == _key(obj) or (expand and k == "transactioncurrencyid")}}
                 for r in rows[skip:skip + size]]
        host = req.headers.get("Host", "localhost")
        body = {"@odata.context": f"http://{host}{API}$metadata#{entity_set}", "value": value}
        if skip + size < len(rows):
            query = {k: v for k, v in req.query.items() if k != "$skiptoken"} | {"$skiptoken": str(skip + size)}
            body["@odata.nextLink"] = f"http://{host}{req.path}?{urlencode(query)}"
        return Reply(200, body, headers={"OData-Version": "4.0"})

    def unauthorized(self) -> Reply:
        return Reply(401, b"", headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.example/"'})

    def rate_limited(self) -> Reply:
        return Reply(429, {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of "
                                     "6000 over time window of 300 seconds."}}, headers={"Retry-After": "0"})


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})
