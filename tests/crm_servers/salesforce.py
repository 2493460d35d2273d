"""A Salesforce-shaped REST API: `GET /services/data/v60.0/query?q=<SOQL>` and `nextRecordsUrl` paging.

From Salesforce's REST API Developer Guide ("Execute a SOQL Query", "Query More Results"): a query
answers `{totalSize, done, records[], nextRecordsUrl}`; every record carries `attributes {type, url}`;
datetimes read `2025-06-02T08:00:00.000+0000`; the batch size is asked for with the header
`Sforce-Query-Options: batchSize=n` (200..2000, default 2000); errors are a JSON list of
`{message, errorCode}`, e.g. 400 INVALID_FIELD, 400 INVALID_QUERY_LOCATOR for an expired or unknown
query cursor, 401 INVALID_SESSION_ID. Only the SOQL this product's preset sends is understood:
`SELECT f, ... FROM Obj WHERE SystemModstamp >= <dateTime literal> ORDER BY SystemModstamp ASC, Id ASC`.
`locator_life` makes cursors expire after that many pages (Salesforce expires idle locators).
"""

from __future__ import annotations

import re
from datetime import datetime

from tests.helpers.http_server import Reply, Request

from .base import VendorApi
from .store import Store

API = "/services/data/v60.0"
SOQL = re.compile(r"^SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)"
                  r"(?:\s+WHERE\s+(?P<wfield>\w+)\s*>=\s*(?P<since>\S+))?"
                  r"\s+ORDER\s+BY\s+SystemModstamp\s+ASC,\s*Id\s+ASC$", re.I | re.S)
OBJECTS = {"User": "users", "Account": "accounts", "Contact": "contacts", "Opportunity": "deals",
           "Task": "activities", "Case": "tickets"}
PREFIX = {"users": "005", "accounts": "001", "contacts": "003", "deals": "006", "activities": "00T", "tickets": "500"}
STAGES = {"qualification": "Qualification", "needs_analysis": "Needs Analysis", "proposal": "Proposal/Price Quote",
          "negotiation": "Negotiation/Review", "won": "Closed Won", "lost": "Closed Lost"}


def sf_id(obj: str, n: int) -> str:
    return f"{PREFIX[obj]}8d{n:010d}AAA"


def sf_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def render(obj: str, r: dict) -> dict:
    common = {"Id": sf_id(obj, r["n"]), "CreatedDate": sf_time(r["created"]),
              "LastModifiedDate": sf_time(r["modified"]), "SystemModstamp": sf_time(r["modified"]),
              "IsDeleted": False}
    owner = {"OwnerId": sf_id("users", r["owner"])} if "owner" in r else {}
    if obj == "users":
        return {**common, "Email": r["email"], "Name": f"{r['first']} {r['last']}", "IsActive": True}
    if obj == "accounts":
        return {**common, **owner, "Name": r["name"], "Website": f"https://www.{r['domain']}/",
                "Industry": r["industry"], "BillingCountry": r["country"], "Customer_Tier__c": r["tier"]}
    if obj == "contacts":
        return {**common, **owner, "FirstName": r["first"], "LastName": r["last"], "Email": r["email"],
                "Title": r["title"], "AccountId": sf_id("accounts", r["account"])}
    if obj == "deals":
        return {**common, **owner, "Name": r["name"], "StageName": STAGES[r["stage"]], "IsWon": r["won"],
                "IsClosed": r["closed"], "Amount": float(r["amount"]), "CurrencyIsoCode": r["currency"],
                "CloseDate": r["close"].isoformat(), "AccountId": sf_id("accounts", r["account"])}
    if obj == "activities":
        return {**common, **owner, "Subject": r["subject"], "TaskSubtype": r["type"].title(),
                "ActivityDate": r["at"].date().isoformat(), "WhoId": sf_id("contacts", r["contact"]),
                "AccountId": sf_id("accounts", r["account"]), "WhatId": sf_id("deals", r["deal"])}
    return {**common, **owner, "Subject": r["subject"], "Status": r["status"].title(),
            "Priority": r["priority"].title(), "ContactId": sf_id("contacts", r["contact"]),
            "AccountId": sf_id("accounts", r["account"])}


class SalesforceApi(VendorApi):
    def __init__(self, store: Store, token: str, rate_limit_every: int = 0, locator_life: int = 0) -> None:
        super().__init__(store, token, rate_limit_every)
        self.locator_life = locator_life  # 0: never expire
        self.locators: dict[str, dict] = {}
        self.expired = 0

    def handle(self, req: Request) -> Reply:
        if req.path == f"{API}/query":
            return self._query(req)
        if req.path.startswith(f"{API}/query/"):
            return self._more(req)
        return _error(404, "NOT_FOUND", "The requested resource does not exist")

    def _query(self, req: Request) -> Reply:
        m = SOQL.match(req.query.get("q", "").strip())
        if not m or m["obj"] not in OBJECTS:
            return _error(400, "MALFORMED_QUERY", "unexpected token in SOQL")
        obj, fields = OBJECTS[m["obj"]], [f.strip() for f in m["fields"].split(",")]
        known = render(obj, self.store.objects[obj][0])
        bad = [f for f in fields if f not in known]
        if bad:
            return _error(400, "INVALID_FIELD", f"No such column '{bad[0]}' on entity '{m['obj']}'.")
        since = None
        if m["since"]:
            try:
                since = datetime.fromisoformat(m["since"].replace("Z", "+00:00"))
            except ValueError:
                return _error(400, "MALFORMED_QUERY", f"value of filter criterion is not a dateTime: {m['since']}")
        rows = [{"attributes": {"type": m["obj"], "url": f"{API}/sobjects/{m['obj']}/{sf_id(obj, r['n'])}"},
                 **{f: render(obj, r)[f] for f in fields}} for r in self.store.changed_since(obj, since)]
        size = _batch_size(req.headers.get("Sforce-Query-Options", ""))
        locator = f"01g8d{len(self.locators):010d}"
        self.locators[locator] = {"rows": rows, "size": size, "served": 0}
        return self._page(locator, 0)

    def _more(self, req: Request) -> Reply:
        locator, _, offset = req.path.rsplit("/", 1)[1].partition("-")
        state = self.locators.get(locator)
        if state is None or (self.locator_life and state["served"] >= self.locator_life):
            self.expired += 1
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset))

    def _page(self, locator: str, offset: int) -> Reply:
        state = self.locators[locator]
        state["served"] += 1
        rows, size = state["rows"], state["size"]
        end = offset + size
        body = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            body["nextRecordsUrl"] = f"{API}/query/{locator}-{end}"
        return Reply(200, body)

    def unauthorized(self) -> Reply:
        return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def rate_limited(self) -> Reply:
        # concurrent-request limit: Salesforce answers 503 (the daily limit, 403, is not retryable)
        return Reply(503, [{"message": "Server Unavailable, please retry", "errorCode": "SERVER_UNAVAILABLE"}])


def _batch_size(header: str) -> int:
    m = re.search(r"batchSize=(\d+)", header)
    return min(max(int(m.group(1)), 200), 2000) if m else 2000


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, [{"message": message, "errorCode": code}])


