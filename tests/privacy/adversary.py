#!/usr/bin/python3
"""An adversary with an analyst key (issue 14, item 7): asks thousands of
`tessera trends` queries and one `tessera report`, combines them to work out
small counts, and scores every derivation against the true counts made from
the raw exports (truth.py). Fails (exit 1) when any released count is 1..k-1,
any differs from the truth by more than the response's max_deviation, one
record set gives two values, an attack family pins small counts in more than
half its derivations, or averaging pins small counts within the daily query
budget. tests/privacy/README.md explains. Standard library only."""
import argparse
import collections
import concurrent.futures
import datetime
import html
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truth as truthmod  # noqa: E402  (the scorer; the attack never reads it)

K_SMALL = range(1, 5)   # k = 5: a true count 1..4 is what must not be pinned
DEFAULT_BUDGET = 60     # [disclosure] daily_query_budget's default (privacy.sh passes it)
SINGLE = {"gender": ["boy_man", "girl_woman", "other", "unknown"],
          "age_band": ["under_11", "11_12", "13_15", "16_17", "18_24", "25_plus", "unknown"],
          "paid": ["yes", "no", "unknown"],
          "amount_band": ["none", "1_49", "50_99", "100_249", "250_499", "500_999",
                          "1000_2499", "2500_plus", "unknown"]}

FAMILIES = ("1 margins", "2 complements", "3 2-D vs 1-D", "4 date shifts", "4b month vs weeks",
            "5 filter drops", "6 report vs tables", "7 averaging", "8 alert baselines")
Q = collections.namedtuple("Q", "by filters since until src")


def q(by, filters=(), since=None, until=None, src="trends"):
    return Q(tuple(by.split(",")) if isinstance(by, str) else tuple(by),
             tuple(filters), since, until, src)


def day(s):
    return datetime.date.fromisoformat(s)


def iso(d):
    return d.isoformat()


WEEK = datetime.timedelta(days=7)


# --- the attacker's view: only what the CLI prints --------------------------

class Result:
    def __init__(self, ok, cells=None, k=None, dev=None, error=""):
        self.ok, self.cells, self.k, self.dev, self.error = ok, cells or {}, k, dev, error

    def value(self, key):
        """The released count of a cell (0 when its row was left out), or
        None when it was withheld (suppressed, or the query refused)."""
        if not self.ok:
            return None
        return self.cells.get(tuple(key), 0)


def parse_count(s):
    if isinstance(s, int):
        return s
    s = str(s).strip()
    return int(s) if re.fullmatch(r"-?\d+", s) else None  # "<5", "x": withheld


def parse_json(text, dims):
    o = json.loads(text)
    cells = {}
    for c in o.get("cells", []):
        key = tuple("" if c.get(d) in (None, "", "Total") else c[d] for d in dims)
        cells[key] = parse_count(c.get("count"))
    return Result(True, cells, o.get("k"), o.get("max_deviation"))


def parse_csv(text, dims):
    lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    head = lines[0].split(",")
    ci = head.index("count")
    cells = {}
    for l in lines[1:]:
        f = l.split(",")
        key = tuple("" if f[head.index(d)] in ("", "Total") else f[head.index(d)] for d in dims)
        cells[key] = parse_count(f[ci])
    return Result(True, cells)


def parse_table(text, dims):
    assert len(dims) == 1, "only one-dimensional tables are read as text"
    cells = {}
    for l in text.splitlines()[1:]:
        f = l.split()
        if len(f) >= 2 and not l.startswith(("-", "=", "#")):
            key = "" if f[0] in ("Total", "total", "(total)") else f[0]
            cells[(key,)] = parse_count(f[-1])
    return Result(True, cells)


class Oracle:
    """Runs the real CLI, one process per query, a few at a time; an
    identical query is asked once (and is free under the budget)."""

    def __init__(self, args):
        self.base = [args.cli, "trends", "--collector", args.collector,
                     "--server-key", args.server_key, "--key", args.key]
        self.report_base = [args.cli, "report", "--collector", args.collector,
                            "--server-key", args.server_key, "--key", args.key]
        self.results = {}       # (Q, fmt) -> Result
        self.distinct = set()   # Qs the collector saw
        self.calls = 0
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)

    def argv(self, qq, fmt):
        a = self.base + ["--by", ",".join(qq.by), "--format", fmt]
        for d, v in qq.filters:
            a += ["--where", f"{d}={v}"]
        if qq.since:
            a += ["--since", qq.since]
        if qq.until:
            a += ["--until", qq.until]
        return a

    def _run(self, qq, fmt):
        p = subprocess.run(self.argv(qq, fmt), capture_output=True, text=True)
        if p.returncode != 0:
            return Result(False, error=p.stderr.strip())
        return {"json": parse_json, "csv": parse_csv, "table": parse_table}[fmt](p.stdout, qq.by)

    def ask(self, qs, fmt="json"):
        todo = list(dict.fromkeys(x for x in qs if (x, fmt) not in self.results))
        for x, r in zip(todo, self.pool.map(lambda x: self._run(x, fmt), todo)):
            self.results[(x, fmt)] = r
            self.distinct.add(x)
            self.calls += 1
        return [self.results[(x, fmt)] for x in qs]

    def again(self, qq, fmt="json"):
        """The same query asked once more, not from the cache."""
        self.calls += 1
        return self._run(qq, fmt)

    def get(self, qq, fmt="json"):
        return self.results[(qq, fmt)]


class Attack:
    """Derivations: each a signed sum of released cells that, if the cells
    were exact, would equal one record set's count (the target)."""

    def __init__(self, oracle):
        self.o = oracle
        self.derivations = []   # (family, group, terms [(sign, Q, key)], value)
        self.family_queries = collections.Counter()
        self.refused = []       # (refused Q, Q of the same records, its cell key)
        self.avg_costs = {}     # averaging: target week -> distinct queries of each round

    def derive(self, family, terms, group=None):
        total = 0
        for sign, qq, key in terms:
            v = self.o.get(qq).value(key)
            if v is None:
                return False  # a withheld cell: nothing to derive from
            total += sign * v
        self.derivations.append((family, group, terms, total))
        return True

    def released_terms(self, terms):
        return tuple(self.o.get(qq).value(key) for _, qq, key in terms)

    def ask(self, family, qs):
        before, t0 = len(self.o.distinct), time.time()
        r = self.o.ask(qs)
        self.family_queries[family] += len(self.o.distinct) - before
        print(f"  {family}: {len(self.o.distinct) - before} new queries, "
              f"{time.time() - t0:.1f} s", flush=True)
        return r


def row_values(res, dim_index, fixed):
    """The keys of res whose other dimension is fixed (a dict index->value)."""
    return sorted({k[dim_index] for k in res.cells
                   if k[dim_index] != "" and all(k[i] == v for i, v in fixed.items())})


def attack(args, o):
    a = Attack(o)
    R = args.region
    # reconnaissance: the weeks with data and the analyst's areas
    weeks_res, areas_res = o.ask([q("week"), q("area")])
    # (with the cell-key method every axis is its whole domain: weeks back
    # to 1976, released as 0; the ones with records release more)
    weeks = sorted(k[0] for k, v in weeks_res.cells.items() if k[0] and v != 0)
    areas = sorted(k[0] for k, v in areas_res.cells.items() if k[0] and v != 0)
    first, last = day(weeks[0]), day(weeks[-1])
    mondays = []
    d = first
    while d <= last:
        mondays.append(d)
        d += WEEK
    blocks13 = [(iso(mondays[i]), iso(min(mondays[i] + 13 * WEEK - datetime.timedelta(days=1),
                                         last + WEEK - datetime.timedelta(days=1))))
                for i in range(0, len(mondays), 13)]
    blocks4 = [(iso(mondays[i]), iso(mondays[i] + 4 * WEEK - datetime.timedelta(days=1)))
               for i in range(0, len(mondays) - 3, 4)]
    ranges = [(None, None)] + blocks13
    print(f"  {len(areas)} areas, weeks {weeks[0]}..{weeks[-1]}", flush=True)

    # 1. margins: --by area minus the other cells of --by area,DIM (and the
    # 2-D table's own totals, where the collector gives them)
    qs = []
    for s, u in ranges + blocks4:
        qs.append(q("area", (), s, u))
        for dim in SINGLE:
            qs.append(q(("area", dim), (), s, u))
    a.ask("margins", qs)
    for s, u in ranges + blocks4:
        one = q("area", (), s, u)
        for dim, values in SINGLE.items():
            two = q(("area", dim), (), s, u)
            for area in areas:
                for v in values:
                    others = [(-1, two, (area, w)) for w in values if w != v]
                    a.derive("1 margins", [(+1, one, (area,))] + others)
                    if (area, "") in o.get(two).cells:
                        a.derive("1 margins", [(+1, two, (area, ""))] + others)

    # 2. complements: --by area minus --by area --where DIM=v for all other v
    qs = []
    for s, u in ranges + [(s, u) for s, u in blocks4]:
        qs.append(q("area", (), s, u))
        for dim, values in SINGLE.items():
            if (s, u) in blocks4 and dim != "gender":
                continue
            qs += [q("area", ((dim, v),), s, u) for v in values]
    a.ask("complements", qs)
    for s, u in ranges + blocks4:
        for dim, values in SINGLE.items():
            if (s, u) in blocks4 and dim != "gender":
                continue
            for area in areas:
                for v in values:
                    a.derive("2 complements", [(+1, q("area", (), s, u), (area,))] +
                             [(-1, q("area", ((dim, w),), s, u), (area,)) for w in values if w != v])

    # 3. 2-D vs 1-D: a 2-D table's row/column sums against the 1-D tables
    pairs = [("age_band", "gender"), ("paid", "gender"), ("amount_band", "paid")]
    years = [(None, None)] + [(blocks13[i][0], blocks13[min(i + 3, len(blocks13) - 1)][1])
                              for i in range(0, len(blocks13), 4)]
    qs = []
    for s, u in years:
        for area in areas:
            f = (("area", area),)
            for x, y in pairs:
                qs += [q((x, y), f, s, u), q(x, f, s, u), q(y, f, s, u)]
    a.ask("2-D vs 1-D", qs)
    for s, u in years:
        for area in areas:
            f = (("area", area),)
            for x, y in pairs:
                two = q((x, y), f, s, u)
                for xv in SINGLE[x]:
                    for yv in SINGLE[y]:
                        a.derive("3 2-D vs 1-D", [(+1, q(y, f, s, u), (yv,))] +
                                 [(-1, two, (w, yv)) for w in SINGLE[x] if w != xv])
                        a.derive("3 2-D vs 1-D", [(+1, q(x, f, s, u), (xv,))] +
                                 [(-1, two, (xv, w)) for w in SINGLE[y] if w != yv])

    # 4. date shifts: ranges a week apart, and months against their weeks
    qs = []
    anchors = mondays[:: max(1, len(mondays) // 3)][:3]
    for w1 in anchors:
        for j in range(0, 20):
            end = w1 + (j + 1) * WEEK - datetime.timedelta(days=1)
            qs += [q("area", (), iso(w1), iso(end)), q(("area", "gender"), (), iso(w1), iso(end)),
                   q("area", (), iso(w1 + WEEK), iso(end))]
    month_pairs = []
    m = datetime.date(first.year, first.month, 1)
    while m <= last:
        nxt = (m + datetime.timedelta(days=32)).replace(day=1)
        s = truthmod.monday(m)
        e1 = truthmod.monday(nxt - datetime.timedelta(days=1)) + datetime.timedelta(days=6)
        e2 = e1 - WEEK
        for by in ("month", "area,month"):
            month_pairs.append((q(by, (), iso(s), iso(e1)), q(by, (), iso(s), iso(e2))))
        m = nxt
    # the outside tester's March example, as they asked it
    month_pairs.append((q("month", (), "2025-03-03", "2025-04-06"),
                        q("month", (), "2025-03-03", "2025-03-30")))
    qs += [x for p in month_pairs for x in p]
    a.ask("date shifts", qs)
    for w1 in anchors:
        for j in range(1, 20):
            end = w1 + (j + 1) * WEEK - datetime.timedelta(days=1)
            prev = end - WEEK
            for by in ("area", "area,gender"):
                wide, narrow = q(by, (), iso(w1), iso(end)), q(by, (), iso(w1), iso(prev))
                for key in set(o.get(wide).cells) | set(o.get(narrow).cells):
                    a.derive("4 date shifts", [(+1, wide, key), (-1, narrow, key)])
            wide, late = q("area", (), iso(w1), iso(end)), q("area", (), iso(w1 + WEEK), iso(end))
            for area in areas:  # the first week of the range, by its since
                a.derive("4 date shifts", [(+1, wide, (area,)), (-1, late, (area,))])
    for wide, narrow in month_pairs:
        for key in set(o.get(wide).cells) | set(o.get(narrow).cells):
            a.derive("4b month vs weeks", [(+1, wide, key), (-1, narrow, key)])

    # 5. filter drops: three filters; one, two and all three dropped
    triples = [(("gender", g), ("paid", p), ("contact_platform", c))
               for g in ("boy_man", "girl_woman", "unknown") for p in ("yes", "no", "unknown")
               for c in ("instagram", "snapchat")]
    qs = []
    for s, u in years:
        for t in triples:
            for mask in range(8):
                qs.append(q("area", tuple(f for i, f in enumerate(t) if mask >> i & 1), s, u))
    a.ask("filter drops", qs)
    for s, u in years:
        for t in triples:
            full = q("area", t, s, u)
            for mask in range(7):  # the filters kept
                kept = q("area", tuple(f for i, f in enumerate(t) if mask >> i & 1), s, u)
                for area in areas:
                    a.derive("5 filter drops", [(+1, kept, (area,)), (-1, full, (area,))])

    # 6. the report against the tables
    report_family(args, a, areas, mondays)

    # 7. averaging: many distinct range differences isolating the same cells
    averaging(args, a, mondays)

    # 8. spike alerts: daily counts, and the exact baselines behind them
    alerts_family(args, a)

    # refusals: the same records asked as a cell of a query that is answered
    probes = [q("gender", (("area", area),), iso(w), iso(w + datetime.timedelta(days=6)))
              for w in mondays[-20:] for area in areas]  # one area, one week: often refused
    a.ask("refusals", probes)
    refusals(a)

    # one record set, one value: (first area, all time) in >= 200 shapes
    shapes = consistency(args, o, areas, first)
    return a, shapes


def refusals(a):
    """For each refused query with a filter, the same record set as a cell:
    its first filter's dimension as --by. A refusal made on the released
    total agrees with that cell (0); one made on the true count does not."""
    o = a.o
    refused = [qq for (qq, fmt), r in o.results.items()  # for too few records, not
               if fmt == "json" and qq.src == "trends" and not r.ok and qq.filters  # other whys
               and re.search(r"too few|fewer than", r.error)]
    refused = sorted(set(refused), key=repr)[:300]
    alts = [q((qq.filters[0][0],), qq.filters[1:], qq.since, qq.until) for qq in refused]
    a.ask("refusals", alts)
    a.refused = [(qq, alt, (qq.filters[0][1],)) for qq, alt in zip(refused, alts)]


def report_family(args, a, areas, mondays):
    o, R = a.o, args.region
    since, until = mondays[-26], mondays[-1] + datetime.timedelta(days=6)
    out = os.path.join(args.work, "report.html")
    p = subprocess.run(o.report_base + ["--region", R, "--out", out, "--since", iso(since),
                                        "--until", iso(until)], capture_output=True, text=True)
    o.calls += 1
    if p.returncode != 0:
        print(f"  report refused: {p.stderr.strip()}")
        return
    text = open(out, encoding="utf-8").read()
    names = {}
    for a_code in areas:
        names[a_code] = a_code
    region_q = q("week", (("region", R),), iso(since), iso(until), src="report")
    series = {}  # Q (as the report asked it) -> {week: value}
    for fig in text.split("<figure")[1:]:
        cap = re.search(r"<figcaption>(.*?)</figcaption>", fig, re.S)
        if not cap:
            continue
        cap = html.unescape(re.sub(r"<[^>]+>", "", cap.group(1)))
        m = re.search(r"\((E\d{8})\)", cap)
        if m and m.group(1) in areas:
            qq = q("week", (("region", R), ("area", m.group(1))), iso(since), iso(until), "report")
        elif "whole region" in cap.lower():
            qq = region_q
        else:
            continue
        vals = {}
        for t in re.findall(r"<title[^>]*>([^<]*)</title>", fig):
            mm = re.fullmatch(r"\s*(\d{4}-\d{2}-\d{2})\s*:\s*(\S+)\s*", html.unescape(t))
            if mm:
                vals[(mm.group(1),)] = parse_count(mm.group(2))
        series[qq] = vals
    for qq, vals in series.items():
        o.results[(qq, "json")] = Result(True, vals)
    trends_aw = q(("area", "week"), (), iso(since), iso(until))
    trends_w = q("week", (), iso(since), iso(until))
    a.ask("report", [trends_aw, trends_w])
    print(f"  report: {len(series)} weekly series read", flush=True)
    if region_q not in series:
        return
    area_qs = {qq.filters[1][1]: qq for qq in series if len(qq.filters) == 2}
    for w in (iso(mondays[-26] + i * WEEK) for i in range(26)):
        for area in areas:
            others = [b for b in areas if b != area]
            if all(b in area_qs for b in others):
                a.derive("6 report vs tables", [(+1, region_q, (w,))] +
                         [(-1, area_qs[b], (w,)) for b in others])
            a.derive("6 report vs tables", [(+1, region_q, (w,))] +
                     [(-1, trends_aw, (b, w)) for b in others])
            if all(b in area_qs for b in others):
                a.derive("6 report vs tables", [(+1, trends_w, (w,))] +
                         [(-1, area_qs[b], (w,)) for b in others])


Z_EARS = 3.090232306167813  # qnorm(1 - 0.001): C1 and C2 (lib/spike.c)
_EARS = None


def ears_sums(E, U):
    """The 7-day baseline sums that round to expected E and upper bound U
    (mean + z sd, sd with n - 1), as an analyst can enumerate them."""
    global _EARS
    if _EARS is None:
        _EARS = collections.defaultdict(set)

        def parts(left, most, n):
            if n == 0:
                yield ()
                return
            for x in range(min(left, most), -1, -1):
                for rest in parts(left - x, x, n - 1):
                    yield (x,) + rest
        for total in range(0, 29):
            for y in parts(total, total, 7):
                if sum(y) != total:
                    continue
                m = total / 7
                sd = (sum((v - m) ** 2 for v in y) / 6) ** 0.5
                _EARS[(round(m), round(m + Z_EARS * sd))].add(total)
    return sorted(_EARS.get((E, U), ()))


def alerts_family(args, a):
    """An analyst's spike alerts: the released count of a day, and what
    stands for the expectation: on a cell-key collector the released count
    of the four weeks before (per day or week), taken back to a count; on an
    older one an expectation and bound rounded to whole numbers, from which
    the 7 days of the baseline (C1: t-7..t-1, C2: t-9..t-3) can be
    enumerated."""
    o = a.o
    p = subprocess.run([args.cli, "alerts", "--collector", args.collector, "--server-key",
                        args.server_key, "--key", args.key, "--since", "0", "--kind", "all",
                        "--format", "json", "--state", os.path.join(args.work, "alerts.seq")],
                       capture_output=True, text=True, timeout=120)
    o.calls += 1
    alerts = [json.loads(l) for l in p.stdout.splitlines() if l.strip().startswith("{")]
    n = 0
    for al in alerts:
        m = re.fullmatch(r"(area|region):([A-Z0-9]+)(?:/([a-z_]+):(.+))?", al.get("series", ""))
        if al.get("kind") != "spike" or not m or not re.fullmatch(r"\d{4}-\d{2}-\d{2}",
                                                                  al.get("period", "")):
            continue
        scope, code, dim, val = m.groups()
        filters = ((dim, val),) if dim else ()
        P = day(al["period"])
        # the day itself, as released; a suppressed count (null) releases nothing
        if al.get("method") in ("c1", "c2", "c3") and al.get("observed") is not None:
            qd = q(scope, filters, iso(P), iso(P), "days")
            o.results[(qd, "alert")] = Result(True, {(code,): int(al.get("observed", 0))})
        if al.get("observed_suppressed") or al.get("expected") is None:
            continue
        if al.get("upperbound") is None:
            # a cell-key collector: no bound, and the expectation is the
            # released count of the four whole weeks before, per day/week
            mon = P - datetime.timedelta(days=P.weekday())
            per = 4 if al.get("method") == "farrington" else 28
            qb = q(scope, filters, iso(mon - datetime.timedelta(days=28)),
                   iso(mon - datetime.timedelta(days=1)), "days")
            a.derivations.append(("8 alert baselines", None, [(+1, qb, (code,))],
                                  round(al["expected"] * per)))
            n += 1
            continue
        if al.get("method") not in ("c1", "c2"):
            continue
        gap = 0 if al["method"] == "c1" else 2
        lo, hi = P - datetime.timedelta(days=7 + gap), P - datetime.timedelta(days=1 + gap)
        sums = ears_sums(round(al["expected"]), round(al["upperbound"]))
        if not sums:
            continue
        qb = q(scope, filters, iso(lo), iso(hi), "days")
        a.derivations.append(("8 alert baselines", None, [(+1, qb, (code,))],
                              sums[len(sums) // 2]))
        n += 1
    print(f"  alerts: {len(alerts)} read, {n} baselines enumerated", flush=True)


def averaging(args, a, mondays):
    """For target weeks W: round i asks [W-i..W] and [W-i..W-1] (or
    [W..W+i] and [W+1..W+i]) --by area,gender: each pair's difference is
    (area, W, gender) for every area and gender at once."""
    o = a.o
    n_max = args.avg_rounds
    mid = len(mondays) // 2
    targets = [mondays[mid - 6], mondays[mid], mondays[mid + 6]]
    last_day = mondays[-1] + datetime.timedelta(days=6)
    for W in targets:
        plan = []
        for i in range(1, n_max + 1):
            side = i % 2
            j = (i + 1) // 2
            if side:  # left
                lo = W - j * WEEK
                if lo < mondays[0]:
                    side = 0
            if side:
                plan.append((q(("area", "gender"), (), iso(lo), iso(W + datetime.timedelta(days=6))),
                             q(("area", "gender"), (), iso(lo), iso(W - datetime.timedelta(days=1)))))
            else:
                hi = W + (j + 1) * WEEK - datetime.timedelta(days=1)
                if hi > last_day:
                    continue
                plan.append((q(("area", "gender"), (), iso(W), iso(hi)),
                             q(("area", "gender"), (), iso(W + WEEK), iso(hi))))
        a.ask("averaging", [x for p in plan for x in p])
        for r, (wide, narrow) in enumerate(plan):
            keys = set(o.get(wide).cells) | set(o.get(narrow).cells)
            for key in keys:
                a.derive("7 averaging", [(+1, wide, key), (-1, narrow, key)],
                         group=(iso(W), key, r))
        # then the same ranges split by paid: the parts are other record
        # sets, so their sum is the target with noise of its own
        paid = SINGLE["paid"]
        split = [tuple(x._replace(filters=(("paid", p),)) for x in pair for p in paid)
                 for pair in plan[:args.avg_split_rounds]]
        a.ask("averaging", [x for qs in split for x in qs])
        for r, qs in enumerate(split):
            wides, narrows = qs[:len(paid)], qs[len(paid):]
            keys = set().union(*(o.get(x).cells for x in qs))
            for key in keys:
                a.derive("7 averaging", [(+1, x, key) for x in wides] +
                         [(-1, x, key) for x in narrows], group=(iso(W), key, len(plan) + r))
        a.avg_costs[iso(W)] = [2] * len(plan) + [2 * len(paid)] * len(split)


def consistency(args, o, areas, first):
    """(area A, all time) asked in many shapes: every one must give one value."""
    A, R = areas[0], args.region
    shapes = []  # (Q, fmt, key)
    early = first - 50 * WEEK  # Mondays before any record: the same record set
    sinces = [None] + [iso(truthmod.monday(early) + i * WEEK) for i in range(0, 34)]
    for s in sinces:
        for fmt in ("json", "csv", "table"):
            shapes.append((q("area", (), s, None), fmt, (A,)))
        shapes.append((q("area", (("region", R),), s, None), "json", (A,)))
        shapes.append((q("region", (("area", A),), s, None), "json", (R,)))
    for i in range(20):  # Sundays after any record
        u = iso(truthmod.monday(first) + (160 + i) * WEEK - datetime.timedelta(days=1))
        shapes.append((q("area", (), None, u), "json", (A,)))
        shapes.append((q("area", (), None, u), "csv", (A,)))
    for s in sinces[:10]:
        shapes.append((q("agency_type", (("area", A),), s, None), "json", ("la_childrens_services",)))
        for dim in SINGLE:
            shapes.append((q(("area", dim), (), s, None), "json", (A, "")))
            shapes.append((q(dim, (("area", A),), s, None), "json", ("",)))
            shapes.append((q(dim, (("area", A),), s, None), "csv", ("",)))
    by_fmt = collections.defaultdict(list)
    for qq, fmt, key in shapes:
        by_fmt[fmt].append(qq)
    for fmt, qs in by_fmt.items():
        o.ask(qs, fmt)
    seen = []
    for qq, fmt, key in shapes:
        r = o.get(qq, fmt)
        if r.ok and tuple(key) in r.cells and r.cells[tuple(key)] is not None:
            seen.append((qq, fmt, key, r.cells[tuple(key)]))
    for qq in (q("area"), q(("area", "gender"))):  # repeats, not from the cache
        r = o.again(qq)
        key = (A,) if len(qq.by) == 1 else (A, "")
        if r.ok and key in r.cells and r.cells[key] is not None:
            seen.append((qq, "json again", key, r.cells[key]))
    return seen


# --- scoring: only here is the truth looked at --------------------------------

def score(args, o, a, shapes):
    cellkey = any(r.dev is not None for r in o.results.values())
    t = truthmod.Truth(args.exports, args.areas_csv, args.region, cellkey)
    D = max([r.dev or 0 for r in o.results.values()] + [0])
    k = max([r.k or 0 for r in o.results.values()] + [5])
    fails = []
    # every released cell: none in 1..k-1, none further than D from the truth
    small_released = far = released = 0
    for (qq, fmt), r in o.results.items():
        dev = r.dev if r.dev is not None else D
        for key, v in r.cells.items():
            if v is None:
                continue
            released += 1
            if 0 < v < k:
                small_released += 1
                if small_released <= 3:
                    fails.append(f"released {v} (1..{k - 1}): {describe(qq, fmt, key)}")
            tv = t.cell(qq, key)
            if abs(v - tv) > dev:
                far += 1
                if far <= 3:
                    fails.append(f"released {v}, true {tv}, max_deviation {dev}: "
                                 f"{describe(qq, fmt, key)}")
    if small_released > 3:
        fails.append(f"... {small_released} released counts in 1..{k - 1} in all")
    if far > 3:
        fails.append(f"... {far} released counts further than max_deviation in all")
    # one record set, one value
    values = collections.Counter(v for _, _, _, v in shapes)
    truths = {t.cell(qq, key) for qq, _, key, _ in shapes}
    if len(shapes) < 200:
        fails.append(f"only {len(shapes)} query shapes of one record set were released (want >= 200)")
    if len(values) > 1:
        fails.append(f"one record set gave {len(values)} values across {len(shapes)} shapes: "
                     f"{dict(values)}")
    if len(truths) != 1:
        fails.append(f"scorer: the shapes are not one record set (true counts {truths})")
    # refusals: on the released total (then the same records release 0
    # elsewhere), never on the true count
    ref = {"refused": len(a.refused), "true_0": 0, "true_small": 0, "true_k_plus": 0,
           "released_elsewhere": 0, "unanswered_elsewhere": 0}
    for qq, alt, key in a.refused:
        tv = t.table(qq.by, qq.filters, qq.since, qq.until).get(("",) * len(qq.by), 0)
        ref["true_0" if tv == 0 else "true_small" if tv < k else "true_k_plus"] += 1
        v = o.get(alt).value(key)
        if v is None:
            ref["unanswered_elsewhere"] += 1
        elif v != 0:
            ref["released_elsewhere"] += 1
            if ref["released_elsewhere"] <= 3:
                fails.append(f"refused, but the same records release {v} (true {tv}) as "
                             f"{describe(alt, 'json', key)}")
    # the families
    fam = collections.OrderedDict((f, [0, 0, 0]) for f in FAMILIES)
    groups = collections.defaultdict(list)  # averaging: (W, key) -> [(round, derived, true)]
    for family, group, terms, value in a.derivations:
        tv = sum(s * t.cell(qq, key) for s, qq, key in terms)
        st = fam.setdefault(family, [0, 0, 0])
        st[0] += 1
        if tv in K_SMALL:
            st[1] += 1
            st[2] += value == tv
        if group is not None:  # with the record sets' sizes: a new size, a new set
            groups[group[:2]].append((group[2], value, tv,
                                      tuple(t.cell(qq, key) for _, qq, key in terms),
                                      a.released_terms(terms)))
    rows = []
    for family, (n, small, equal) in sorted(fam.items()):
        share = equal / small if small else 0.0
        rows.append((family, n, small, equal, share))
        if small and share > 0.5:
            fails.append(f"family {family}: {equal} of {small} small-count derivations equal "
                         f"the truth ({share:.0%} > 50%)")
    curve, needed, median_distinct = averaging_curve(groups, a.avg_costs)
    if needed is not None and needed <= args.budget:
        fails.append(f"averaging pins >= 95% of small targets with {needed} distinct queries, "
                     f"within the daily budget of {args.budget}")
    return {"label": args.label, "collector": "cell-key" if cellkey else "suppression",
            "k": k, "max_deviation": D, "released_cells": released,
            "released_small": small_released, "beyond_deviation": far,
            "shapes": len(shapes), "shape_values": sorted(values),
            "distinct_queries": len(o.distinct), "cli_calls": o.calls,
            "families": rows, "refusals": ref, "averaging_curve": curve, "averaging_needed": needed,
            "averaging_distinct_record_sets": median_distinct,
            "fails": fails}


def averaging_curve(groups, costs):
    """Share of small targets (true 1..4) whose rounded mean of the first n
    derivations is the truth, for growing n; queries = distinct queries the
    first n rounds of every target week cost."""
    small = {g: sorted(v) for g, v in groups.items() if v and v[0][2] in K_SMALL}
    if not small:
        return [], None, 0
    max_round = max(r for v in small.values() for r, _, _, _, _ in v) + 1
    # ranges nest, so a derivation's record sets are new when their sizes are
    distinct = sorted(len({sizes for _, _, _, sizes, _ in v}) for v in small.values())
    median_distinct = distinct[len(distinct) // 2]
    curve, needed = [], None
    steps = sorted({1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150,
                    175, 200} | {max_round})
    for n in (s for s in steps if s <= max_round):
        pinned = 0
        for v in small.values():
            # the attacker's estimate: a derivation whose released cells all
            # equal an earlier one's is (most likely) the same records again,
            # so it counts once; each is weighted by 1 / its nonzero cells
            # (a released 0 is most likely a true 0, which has no noise)
            seen, num, den = set(), 0.0, 0.0
            for r, d, _, _, cells in v:
                if r >= n or cells in seen:
                    continue
                seen.add(cells)
                w = 1 / max(1, sum(1 for c in cells if c))
                num, den = num + w * d, den + w
            if den and round(num / den) == v[0][2]:
                pinned += 1
        share = pinned / len(small)
        queries = sum(sum(c[:n]) for c in costs.values())
        curve.append((n, queries, len(small), share))
        if needed is None and share >= 0.95:
            needed = queries
    return curve, needed, median_distinct


def describe(qq, fmt, key):
    f = " ".join(f"--where {d}={v}" for d, v in qq.filters)
    s = f" --since {qq.since}" if qq.since else ""
    u = f" --until {qq.until}" if qq.until else ""
    return f"{qq.src} --by {','.join(qq.by)} {f}{s}{u} ({fmt}) cell {key}"


def print_result(res):
    print(f"\n== {res['label']}: {res['collector']} collector, k={res['k']}, "
          f"max_deviation={res['max_deviation']}, {res['distinct_queries']} distinct queries, "
          f"{res['cli_calls']} CLI calls")
    print(f"released cells {res['released_cells']}, in 1..k-1: {res['released_small']}, "
          f"beyond max_deviation: {res['beyond_deviation']}; one record set in "
          f"{res['shapes']} shapes gave {res['shape_values']}")
    print_table(res["families"])
    if res.get("refusals"):
        r = res["refusals"]
        print(f"refused queries (with a filter): {r['refused']}: true total 0: {r['true_0']}, "
              f"1..k-1: {r['true_small']}, k+: {r['true_k_plus']}; the same records released "
              f"nonzero elsewhere: {r['released_elsewhere']}, refused there too: "
              f"{r['unanswered_elsewhere']}")
    if res["averaging_curve"]:
        print("averaging: rounds | distinct queries | small targets | share pinned")
        for n, qn, targets, share in res["averaging_curve"]:
            print(f"  {n:6d} | {qn:6d} | {targets:4d} | {share:.0%}")
        print(f"  distinct queries to pin >= 95%: {res['averaging_needed'] or 'not reached'}; "
              f"a small target's {res['averaging_curve'][-1][0]} rounds gave "
              f"{res.get('averaging_distinct_record_sets')} distinct pairs of record sets "
              f"(median): the others repeat a pair, and so its value")
    for f in res["fails"]:
        print(f"FAIL: {f}")


def print_table(rows):
    print(f"{'family':22} | {'derivations':>11} | {'small-count':>11} | {'equal to truth':>14} | share")
    for family, n, small, equal, share in rows:
        print(f"{family:22} | {n:11d} | {small:11d} | {equal:14d} | "
              f"{(f'{share:.0%}' if small else '-'):>5}")


def summary(paths):
    tot = collections.OrderedDict()
    ok = True
    for p in paths:
        res = json.load(open(p))
        ok &= not res["fails"]
        for family, n, small, equal, _ in res["families"]:
            t = tot.setdefault(family, [0, 0, 0])
            t[0] += n
            t[1] += small
            t[2] += equal
    print(f"\n== all stores ({len(paths)})")
    print_table([(f, n, s, e, e / s if s else 0.0) for f, (n, s, e) in tot.items()])
    print("privacy adversary: " + ("nothing pinned" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--summary", nargs="+")
    ap.add_argument("--cli")
    ap.add_argument("--collector")
    ap.add_argument("--server-key")
    ap.add_argument("--key")
    ap.add_argument("--exports")
    ap.add_argument("--region", default="E12000003")
    ap.add_argument("--areas-csv")
    ap.add_argument("--work", default="/tmp")
    ap.add_argument("--label", default="store")
    ap.add_argument("--json")
    ap.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    ap.add_argument("--avg-rounds", type=int, default=80)
    ap.add_argument("--avg-split-rounds", type=int, default=20)
    args = ap.parse_args()
    if args.summary:
        return summary(args.summary)
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    print(f"privacy adversary, {args.label}", flush=True)
    o = Oracle(args)
    a, shapes = attack(args, o)
    t1 = time.time()
    res = score(args, o, a, shapes)
    res["seconds"] = [round(t1 - t0, 1), round(time.time() - t1, 1)]
    print_result(res)
    print(f"attack {res['seconds'][0]} s, scoring {res['seconds'][1]} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 1 if res["fails"] else 0


if __name__ == "__main__":
    sys.exit(main())
