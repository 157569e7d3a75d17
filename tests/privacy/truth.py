"""The scorer's side: TRUE trend counts made from the raw JSONL exports the
agencies submitted, bucketed as the collector buckets them (lib/record.c,
collector/trends.c). The attacker (adversary.py) never reads this module's
answers; only the scoring does.

How a record counts, mirroring the collector:
- on its reported_date (agents here do not coarsen dates to weeks; with
  week_coarsening on it would count on its ISO week's Monday, which every
  bucket below treats the same way);
- week = the Monday of its ISO week; month = the calendar month of the day
  (suppression collector) or, with the cell-key method, the month in which
  its ISO week's Thursday falls;
- --since/--until are widened to whole weeks, Monday to Sunday;
- lists (platforms, demands, ...) count a record once per value, "none" when
  empty; a total (empty key) counts each record once;
- only the analyst's region's areas are in scope.
"""
import csv
import datetime
import glob
import json
import os

DIMS = ("area", "region", "week", "month", "agency_type", "age_band", "gender",
        "contact_platform", "moved_to_platform", "demand", "payment_method", "tactic",
        "risk", "action", "paid", "amount_band")
LISTS = {"contact_platform": "contact_platforms", "moved_to_platform": "moved_to_platforms",
         "demand": "demands", "payment_method": "payment_methods", "tactic": "tactics",
         "risk": "risks", "action": "actions"}


def monday(d):
    return d - datetime.timedelta(days=d.weekday())


def parse_day(s):
    return datetime.date.fromisoformat(s)


def age_band(rec):
    if "age" in rec:
        a = rec["age"]
        for below, name in ((11, "under_11"), (13, "11_12"), (16, "13_15"), (18, "16_17"),
                            (25, "18_24"), (121, "25_plus")):
            if a < below:
                return name
    return rec.get("age_band", "unknown")


def amount_band(gbp):
    if gbp is None:
        return "unknown"
    if gbp == 0:
        return "none"
    for below, name in ((50, "1_49"), (100, "50_99"), (250, "100_249"), (500, "250_499"),
                        (1000, "500_999"), (2500, "1000_2499")):
        if gbp < below:
            return name
    return "2500_plus"


class Truth:
    """Raw records of the region, and true counts for any trends query."""

    def __init__(self, exports, areas_csv, region, cellkey_months):
        self.region_of = {}
        with open(areas_csv, newline="") as f:
            for row in csv.DictReader(f):
                self.region_of[row["code"]] = row["region_code"]
        self.region = region
        self.cellkey_months = cellkey_months
        self.records = []
        for path in sorted(glob.glob(os.path.join(exports, "*.jsonl"))):
            with open(path) as f:
                for line in f:
                    if line.strip():
                        self._add(json.loads(line))
        self._tables = {}

    def _add(self, rec):
        area = rec["area_code"]
        if self.region_of.get(area) != self.region:
            return  # outside the analyst's areas: never counted
        day = parse_day(rec["reported_date"])
        wk = monday(day)
        mday = wk + datetime.timedelta(days=3) if self.cellkey_months else day
        paid_gbp = rec.get("amount_paid_gbp")
        paid = rec.get("paid", "yes" if paid_gbp is not None and paid_gbp > 0 else "unknown")
        v = {
            "area": {area}, "region": {self.region}, "week": {wk.isoformat()},
            "month": {mday.isoformat()[:7]}, "agency_type": {"la_childrens_services"},
            "age_band": {age_band(rec)}, "gender": {rec.get("gender", "unknown")},
            "paid": {paid}, "amount_band": {amount_band(rec.get("amount_demanded_gbp"))},
        }
        for dim, field in LISTS.items():
            v[dim] = set(rec.get(field) or []) or {"none"}
        self.records.append((day, v))

    def table(self, by, filters, since, until, days=False):
        """{key tuple: true count} for every combination of by-values ('' =
        total over that dimension) the query's records hold. days: since and
        until are exact days (a spike alert's daily window), not widened."""
        cache_key = (tuple(by), tuple(filters), since, until, days)
        t = self._tables.get(cache_key)
        if t is not None:
            return t
        lo = parse_day(since) if days else monday(parse_day(since)) if since else datetime.date.min
        hi = (parse_day(until) if days else monday(parse_day(until)) + datetime.timedelta(days=6)
              if until else datetime.date.max)
        t = {}
        for day, v in self.records:
            if day < lo or day > hi:
                continue
            if not all(val in v[dim] for dim, val in filters):
                continue
            keys = [()]
            for dim in by:
                keys = [k + (x,) for k in keys for x in list(v[dim]) + [""]]
            for k in keys:
                t[k] = t.get(k, 0) + 1
        self._tables[cache_key] = t
        return t

    def cell(self, q, key):
        return self.table(q.by, q.filters, q.since, q.until, q.src == "days").get(tuple(key), 0)
