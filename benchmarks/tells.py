#!/usr/bin/env python3
"""Does anything in the capture tell the case's packets from the background? (issue 14, item 1)

Builds the captures of a few variants of each bundled case (Nightjar, and Kestrel), reads them back with tshark
and, for each feature an examiner could filter on, prints the ROC AUC of the best single threshold separating
the frames of the case's planned flows from the background (0.5: chance, 1.0: a perfect filter), pooled over the
variants. Target: every feature <= 0.75. How the features are defined and scored:
:mod:`dflab.evidence.network.tells`. The labels come from the writer (``build_capture(...).planned``) and never
reach the evidence.

"before" is what the writer of commit 6c4b748 (before issue 14's network work) measured with these very
definitions, same cases (kestrel.yaml as the working tree held it then) and trainees (default, alice, bob: the
default --variants 3), pooled:

    feature                    nightjar  kestrel
    timestamp fraction           0.812    0.781
    inter-arrival in flow        0.616    0.517
    IP TTL                       0.501    0.567
    initial TTL (sender's OS)    0.535    0.539
    TCP window                   0.500    0.500
    TCP options layout           0.546    0.542
    IP ID step                   0.664    0.664
    packet size                  0.547    0.539
    DNS query type               0.500    0.500
    DNS name frequency           1.000    1.000
    flow start fraction          0.953    0.972
    flow duration                0.675    0.780
    server port                  0.580    0.774

Use --json for one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflab.evidence.network.tells import BOUND, capture_packets, separations  # noqa: E402
from dflab.scenario.draw import DEMO_SECRET, variant_seed  # noqa: E402
from dflab.scenario.load import load_spec  # noqa: E402
from dflab.scenario.resolve import resolve  # noqa: E402

SCENARIOS = ("nightjar", "kestrel")
TRAINEES = ("default", "alice", "bob", "carol", "dave", "erin")
# The "before" table above, as numbers: (nightjar, kestrel) per feature.
BEFORE = {
    "timestamp fraction": (0.812, 0.781), "inter-arrival in flow": (0.616, 0.517), "IP TTL": (0.501, 0.567),
    "initial TTL (sender's OS)": (0.535, 0.539), "TCP window": (0.500, 0.500),
    "TCP options layout": (0.546, 0.542), "IP ID step": (0.664, 0.664), "packet size": (0.547, 0.539),
    "DNS query type": (0.500, 0.500), "DNS name frequency": (1.000, 1.000), "flow start fraction": (0.953, 0.972),
    "flow duration": (0.675, 0.780), "server port": (0.580, 0.774),
}


def measure(scenario: str, trainees: tuple[str, ...], work: Path) -> list[dict[str, object]]:
    """The pooled separations of ``scenario``'s variants for ``trainees``."""
    spec = load_spec(ROOT / "labs" / "scenarios" / f"{scenario}.yaml")
    runs = [capture_packets(resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, t), t), work) for t in trainees]
    column = SCENARIOS.index(scenario)
    return [{"feature": r.feature, "unit": r.unit, "kind": r.kind, "scenario_units": r.scenario,
             "background_units": r.background, "before": BEFORE[r.feature][column], "after": r.auc}
            for r in separations(*runs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=3, help=f"variants per case, at most {len(TRAINEES)}")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()
    trainees = TRAINEES[:max(1, min(args.variants, len(TRAINEES)))]
    with tempfile.TemporaryDirectory(prefix="dflab-tells-") as tmp:
        figures = {name: measure(name, trainees, Path(tmp)) for name in SCENARIOS}
    worst = max(row["after"] for rows in figures.values() for row in rows)  # type: ignore[type-var]
    result = {"target_max_auc": BOUND, "trainees": list(trainees), "worst_auc": worst, "cases": figures}
    if args.json:
        print(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    for name, rows in figures.items():
        table = Table(title=f"{name}: ROC AUC of the best threshold, case vs background "
                            f"({len(trainees)} variants pooled; target <= {BOUND})")
        for col in ("feature", "per", "kind", "case", "background", "before", "after"):
            table.add_column(col, justify="left" if col in ("feature", "per", "kind") else "right")
        for row in rows:
            after = f"{row['after']:.3f}"
            kind = "num" if row["kind"] == "numeric" else "cat"
            table.add_row(str(row["feature"]), str(row["unit"]), kind, str(row["scenario_units"]),
                          str(row["background_units"]), f"{row['before']:.3f}",
                          after if row["after"] <= BOUND else f"[red]{after}[/red]")
        Console().print(table)

if __name__ == "__main__":
    main()
