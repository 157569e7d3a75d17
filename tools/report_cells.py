#!/usr/bin/python3
"""report_cells.py - how many of the counts in a `tessera report` HTML file an
analyst cannot read as a number (issue 14: "the report becomes more useful").

    tools/report_cells.py REPORT.html [REPORT.html ...]

Every count the report draws carries a data-count attribute (the released
value, or "hidden"); reports since the cell-key method also say what the cell
is in data-kind ("cell", "total", "small", "protective", "absent") and the
response's maximum deviation in <meta name="tessera-max-deviation">. Cells are
counted as:

  hidden     "x": no number at all (suppressed to protect another cell)
  range      "<k": only a range, 0..k-1 (a small count, or a zero hidden with it)
  perturbed  a number that may differ from the true count by up to D (D > 0)
  exact      a number as counted (suppression-era reports)
  absent     a row or column the collector left out (all its cells released 0)

and "hidden or imprecise" = (hidden + range) / (cells with a data-count). The
perturbed figure is printed beside it: under the cell-key method every count
is a number, bounded by D, rather than hidden. Standard library only.

Measured on the demo (deploy/demo/run.sh, region E12000003), before the
cell-key method: 163 of 410 cells hidden or imprecise (39.8%: 154 "<5",
9 "x"). After (the same demo with the cell-key collector, 2026-11-30): 0 of
480 cells hidden or imprecise; all 480 numbers, perturbed by at most 5.
"""
import html
import re
import sys

TAG = re.compile(r"<(text|title|td|span|rect)\b([^>]*)>([^<]*)", re.S)
ATTR = re.compile(r'([a-z-]+)="([^"]*)"')
META = re.compile(r'<meta name="tessera-max-deviation" content="(\d+)"')


def classify(text):
    """Counts of each kind of cell in one report's HTML."""
    m = META.search(text)
    dev = int(m.group(1)) if m else 0
    n = dict(hidden=0, range=0, perturbed=0, exact=0, absent=0)
    for tag in TAG.finditer(text):
        attrs = dict(ATTR.findall(tag.group(2)))
        if "data-count" not in attrs and attrs.get("data-kind") != "absent":
            continue
        kind, count = attrs.get("data-kind"), attrs.get("data-count", "")
        body = html.unescape(tag.group(3)).strip()
        if kind == "absent":
            n["absent"] += 1
        elif kind == "protective" or (count == "hidden" and re.search(r"(^|: )x$", body)):
            n["hidden"] += 1
        elif kind == "small" or count == "hidden":
            n["range"] += 1
        elif count.isdigit():
            n["perturbed" if dev > 0 else "exact"] += 1
        else:
            raise ValueError("data-count=%r is neither a number nor 'hidden'" % count)
    return n, dev


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    for path in argv[1:]:
        with open(path, encoding="utf-8") as f:
            n, dev = classify(f.read())
        cells = n["hidden"] + n["range"] + n["perturbed"] + n["exact"]
        share = 100.0 * (n["hidden"] + n["range"]) / cells if cells else 0.0
        print("%s: %d cells; hidden %d, range %d, hidden or imprecise %.1f%%; "
              "perturbed (max deviation %d) %d, exact %d; absent rows/columns %d"
              % (path, cells, n["hidden"], n["range"], share, dev, n["perturbed"], n["exact"],
                 n["absent"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
