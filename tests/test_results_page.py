"""tools/results_page.py: figures come from the reports, and one page describes one machine."""

import json
import shutil

import pytest
from helpers import load_script

results_page = load_script("tools/results_page.py")


@pytest.mark.slow
def test_run_section_quotes_the_report_and_the_machine_it_records(trained_run):
    report = json.loads((trained_run / "report.json").read_text())
    machine, test = report["machine"], report["test_sets"]["test"]
    assert machine["cores"] >= 1 and machine["tensorflow"] and machine["cpu"]
    page = results_page.render([trained_run], [], [])
    assert f"BLEU **{test['BLEU']['score']:.2f}**, chrF {test['chrF']['score']:.2f}" in page
    assert test["BLEU"]["signature"] in page
    assert f"Measured on {results_page.label(machine)}" in page


@pytest.mark.slow
def test_reports_of_two_machines_are_refused(trained_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(trained_run, other, ignore=shutil.ignore_patterns("checkpoints", "best", "encoded"))
    report = json.loads((other / "report.json").read_text())
    report["machine"]["cpu"] = "Another CPU"
    (other / "report.json").write_text(json.dumps(report))
    with pytest.raises(SystemExit, match="the reports come from 2 machines"):
        results_page.render([trained_run, other], [], [])
