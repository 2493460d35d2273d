"""A Zoho CRM-shaped API v5: `GET /crm/v5/{module}` with `If-Modified-Since`, page numbers, `more_records`.

From Zoho CRM's API v5 docs ("Get Records", "Users API", "Status codes", "API limits"): `fields` is
required (`REQUIRED_PARAM_MISSING` otherwise); `page` and `per_page` (<= 200) page through, and
`info.more_records` says whether another page exists; the header `If-Modified-Since` (ISO 8601 with an
offset) returns only records modified since then, and 304 with no body when there are none; times
carry the org's offset (`2025-06-02T13:30:00+05:30`); lookups are objects `{name, id}`; the token goes
as `Authorization: Zoho-oauthtoken <token>`; errors read `{code, details, message, status: error}`
(401 INVALID_TOKEN, 429 TOO_MANY_REQUESTS). Users come from `GET /crm/v5/users` under the key `users`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.helpers.http_server import Reply, Request

from .base import VendorApi

IST = timezone(timedelta(hours=5, minutes=30))
MODULES = {"Accounts": "accounts", "Contacts": "contacts", "Deals": "deals", "Tasks": "activities", "Cases": "tickets"}
STAGES = {"qualification": "Qualification", "needs_analysis": "Needs Analysis", "proposal": "Proposal/Price Quote",
          "negotiation": "Negotiation/Review", "won": "Closed Won", "lost": "Closed Lost"}


def zid(obj: str, n: int) -> str:
    base = {"users": 1, "accounts": 2, "contacts": 3, "deals": 4, "activities": 5, "tickets": 6}[obj]
    return f"48768760000{base:02d}{n:06d}"


def ztime(t: datetime) -> str:
    return t.astimezone(IST).strftime("%Y-%m-%dT%H:%M:%S+05:30")


def lookup(obj: str, n: int, name: str) -> dict:
    return {"name": name, "id": zid(obj, n)}


def render(obj: str, r: dict, users: list[dict]) -> dict:
    row = {"id": zid(obj, r["n"]), "Created_Time": ztime(r["created"]), "Modified_Time": ztime(r["modified"])}
    if "owner" in r:
        u = users[r["owner"] - 1]
        row["Owner"] = {"name": f"{u['first']} {u['last']}", "id": zid("users", u["n"]), "email": u["email"]}
    if obj == "accounts":
        return row | {"Account_Name": r["name"], "Website": f"www.{r['domain']}", "Industry": r["industry"],
                      "Billing_Country": r["country"]}
    if obj == "contacts":
        return row | {"First_Name": r["first"], "Last_Name": r["last"], "Email": r["email"], "Title": r["title"],
                      "Account_Name": lookup("accounts", r["account"], f"Account {r['account']:03d} Ltd")}
    if obj == "deals":
        return row | {"Deal_Name": r["name"], "Stage": STAGES[r["stage"]], "Amount": float(r["amount"]),
                      "Currency": r["currency"], "Closing_Date": r["close"].isoformat(),
                      "Account_Name": lookup("accounts", r["account"], f"Account {r['account']:03d} Ltd")}
    if obj == "activities":
        return row | {"Subject": r["subject"], "Due_Date": r["at"].date().isoformat(), "Status": "Not Started",
                      "Who_Id": lookup("contacts", r["contact"], "contact"),
                      "What_Id": lookup("deals", r["deal"], "deal"),
                      "$se_module": "Deals"}
    return row | {"Subject": r["subject"], "Status": r["status"].title(), "Priority": r["priority"].title(),
                  "Account_Name": lookup("accounts", r["account"], "account"),
                  "Related_To": lookup("contacts", r["contact"], "contact")}


class ZohoApi(VendorApi):
    def authorized(self, req: Request) -> bool:
        return req.headers.get("Authorization") == f"Zoho-oauthtoken {self.token}"

    def handle(self, req: Request) -> Reply:
        module = req.path.removeprefix("/crm/v5/")
        since = None
        if req.headers.get("If-Modified-Since"):
            try:
                since = datetime.fromisoformat(req.headers["If-Modified-Since"])
            except ValueError:
                return _error(400, "INVALID_DATA", "invalid If-Modified-Since")
        per_page, page = int(req.query.get("per_page", 200)), int(req.query.get("page", 1))
        if per_page > 200:
            return _error(400, "INVALID_DATA", "per_page must be at most 200", {"param": "per_page"})
        if module == "users":
            return self._list("users", since, page, per_page, None, key="users")
        if module not in MODULES:
            return _error(400, "INVALID_MODULE", "the module name given seems to be invalid")
        if not req.query.get("fields"):
            return _error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                          {"param": "fields"})
        if (req.query.get("sort_by"), req.query.get("sort_order")) != ("Modified_Time", "asc"):
            return _error(400, "INVALID_DATA", "this test server sorts by Modified_Time asc only")
        return self._list(MODULES[module], since, page, per_page, req.query["fields"].split(","))

    def _list(self, obj: str, since, page: int, per_page: int, fields: list[str] | None, key: str = "data") -> Reply:
        rows = self.store.changed_since(obj, since)
        if since is not None and not rows:
            return Reply(304, b"")
        if not rows:
            return Reply(204, b"")
        chunk = rows[(page - 1) * per_page:page * per_page]
        users = self.store.objects["users"]
        if obj == "users":
            data = [{"id": zid("users", u["n"]), "full_name": f"{u['first']} {u['last']}", "email": u["email"],
                     "status": "active", "created_time": ztime(u["created"]), "Modified_Time": ztime(u["modified"])}
                    for u in chunk]
        else:
            data = [{k: v for k, v in render(obj, r, users).items() if fields is None or k in fields or k == "id"}
                    for r in chunk]
        more = page * per_page < len(rows)
        return Reply(200, {key: data, "info": {"per_page": per_page, "count": len(data), "page": page,
                                               "sort_by": "Modified_Time", "sort_order": "asc", "more_records": more}})

    def unauthorized(self) -> Reply:
        return _error(401, "INVALID_TOKEN", "invalid oauth token")

    def rate_limited(self) -> Reply:
        return _error(429, "TOO_MANY_REQUESTS", "The number of requests exceeds the limit. Please try again later.",
                      {"duration": 1})


def _error(status: int, code: str, message: str, details: dict | None = None) -> Reply:
    return Reply(status, {"code": code, "details": details or {}, "message": message, "status": "error"})
