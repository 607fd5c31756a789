"""Check the Grafana dashboard and the alert rules against the provisioning and a live Prometheus.

`--static GRAFANA_DIR`: the dashboard JSON is well formed, panel ids are unique, panels do not
overlap, and every panel uses the provisioned data source.
`--prometheus URL --dashboard FILE --rules FILE`: against a Prometheus that scrapes a live
service, every panel query runs and returns data, and every `ralis_*` series named by the
dashboard or the alert rules exists. No Grafana runs in CI; this is what stands in for it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

METRIC_NAME = re.compile(r"\bralis_[a-z0-9_]+\b")
# Grafana's macros, replaced by what Grafana would send for a short time range.
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels folded into a row
    return panels


def _exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]


def check_static(grafana_dir: Path) -> list[str]:
    """Problems in the dashboards and their data source provisioning."""
    problems: list[str] = []
    uids = set()
    for source_file in sorted((grafana_dir / "provisioning" / "datasources").glob("*.yml")):
        for source in yaml.safe_load(source_file.read_text())["datasources"]:
            uids.add(source["uid"])
    dashboards = sorted((grafana_dir / "dashboards").glob("*.json"))
    if not dashboards:
        problems.append(f"no dashboard JSON in {grafana_dir / 'dashboards'}")
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        panels = _panels(dashboard)
        ids = [panel["id"] for panel in panels]
        if len(ids) != len(set(ids)):
            problems.append(f"{path}: duplicate panel ids {sorted(ids)}")
        cells: dict[tuple[int, int], str] = {}
        overlaps: set[tuple[str, str]] = set()
        for panel in panels:
            title = panel.get("title", "")
            if panel["type"] != "row":
                source_uid = panel.get("datasource", {}).get("uid")
                if source_uid not in uids:
                    problems.append(
                        f"{path}: panel '{title}' uses data source {source_uid!r}; "
                        f"provisioned: {sorted(uids)}"
                    )
                if not panel.get("targets"):
                    problems.append(f"{path}: panel '{title}' has no query")
            grid = panel["gridPos"]
            if grid["x"] + grid["w"] > 24:
                problems.append(f"{path}: panel '{title}' is wider than the 24-column grid")
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    if (x, y) in cells:
                        overlaps.add((cells[x, y], title))
                    cells[x, y] = title
        problems += [f"{path}: panels '{a}' and '{b}' overlap" for a, b in sorted(overlaps)]
    return problems


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, Any] = json.load(response)
    return body


def check_live(prometheus: str, dashboard_file: Path, rules_file: Path) -> list[str]:
    """Problems found by running the dashboard's queries on a Prometheus with live data."""
    problems = []
    dashboard = json.loads(dashboard_file.read_text())
    known = set(_get(f"{prometheus}/api/v1/label/__name__/values")["data"])
    named = {
        name: str(dashboard_file)
        for _, expr in _exprs(dashboard)
        for name in METRIC_NAME.findall(expr)
    }
    named |= {name: str(rules_file) for name in METRIC_NAME.findall(rules_file.read_text())}
    for name, where in sorted(named.items()):
        if name not in known:
            problems.append(
                f"{where} names '{name}', which Prometheus has not scraped; "
                f"scraped: {sorted(n for n in known if n.startswith('ralis_'))}"
            )
    for title, expr in _exprs(dashboard):
        query = expr
        for macro, value in GRAFANA_MACROS.items():
            query = query.replace(macro, value)
        url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        try:
            answer = _get(url)
        except OSError as exc:  # HTTPError 400 carries Prometheus's parse error
            problems.append(f"panel '{title}': query {query!r} failed: {exc}")
            continue
        if not answer["data"]["result"]:
            problems.append(f"panel '{title}': query {query!r} returned no data")
    return problems


def main(argv: list[str]) -> int:
    """Run the static or the live check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static", type=Path, metavar="GRAFANA_DIR")
    parser.add_argument("--prometheus", metavar="URL")
    parser.add_argument(
        "--dashboard", type=Path, default=Path("deploy/grafana/dashboards/ralis.json")
    )
    parser.add_argument("--rules", type=Path, default=Path("deploy/prometheus/alerts.yml"))
    args = parser.parse_args(argv)
    if args.static is None and args.prometheus is None:
        parser.error("give --static GRAFANA_DIR or --prometheus URL")
    problems = []
    if args.static is not None:
        problems += check_static(args.static)
    if args.prometheus is not None:
        problems += check_live(args.prometheus.rstrip("/"), args.dashboard, args.rules)
    for problem in problems:
        sys.stderr.write(f"dashboard: {problem}\n")
    if not problems:
        mode = "static" if args.prometheus is None else "live"
        sys.stdout.write(f"dashboard: {mode} check ok\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
