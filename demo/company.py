"""One demo company across the four demo systems: the same sales people, the same period.

Why: reports join systems. Rep performance against a department needs the CRM's record owners, the
ERP's sales reps and HR's employees to be the same people, joinable by work e-mail; revenue in USD needs
CRM deals, ERP orders and the ERP's FX rates to cover one period. The demo sources were three public
sample datasets from three different decades (Chinook, Northwind 1996-1998, Oracle HR), so this module
is where they are made one company:

- SALES_TEAM: HR's Sales department (department 80, ordered by employee id) is the sales force. CRM
  owner n and ERP employee n are its n-th member, with HR's work e-mail (`<hr login>@hr.example`).
- ERP_SHIFT_DAYS: Northwind's order dates move forward by a whole number of weeks (weekdays stay
  weekdays) so its orders span 2023-01 to 2024-11, the CRM's period; the ERP's FX rates cover
  FX_START..FX_END, every date a CRM deal closes or an ERP order is placed in.
"""

from __future__ import annotations

import datetime as dt
import functools

from demo.hr_data import load_hr

SALES_DEPARTMENT = 80
WORK_EMAIL_DOMAIN = "hr.example"  # demo/hr_server.py serves work_email as <login>@hr.example
ERP_SHIFT_DAYS = (dt.date(2023, 1, 5) - dt.date(1996, 7, 4)).days  # 9681 = 1383 weeks
FX_START, FX_END = dt.date(2022, 12, 1), dt.date(2024, 12, 31)
CRM_FIRST_CLOSE, CRM_CLOSE_DAYS = dt.date(2023, 1, 1), 730  # deals close in 2023-2024


def shift(day: dt.date) -> dt.date:
    """A Northwind date moved into the company's period."""
    return day + dt.timedelta(days=ERP_SHIFT_DAYS)


@functools.cache
def sales_team() -> tuple[dict, ...]:
    """HR's sales department as (employee_id, first_name, last_name, email, title, hire_date) dicts."""
    hr = load_hr()
    titles = {j["job_id"]: j["job_title"] for j in hr["jobs"]}
    people = sorted((e for e in hr["employees"] if e["department_id"] == SALES_DEPARTMENT),
                    key=lambda e: e["employee_id"])
    return tuple({"employee_id": e["employee_id"], "first_name": e["first_name"], "last_name": e["last_name"],
                  "email": f"{e['email'].lower()}@{WORK_EMAIL_DOMAIN}", "title": titles[e["job_id"]],
                  "hire_date": e["hire_date"]} for e in people)
