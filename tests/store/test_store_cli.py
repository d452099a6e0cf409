"""``hospiflow db``: init, upgrade, status and delete-run on a real file."""

from __future__ import annotations

from click.testing import CliRunner

from hospiflow.cli.db import group
from hospiflow.simulation.engine import simulate
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store.sink import StoreSink


def test_db_commands_manage_a_file(tmp_path, monkeypatch):
    """init creates, status lists runs, delete-run removes one, upgrade is a no-op when current."""
    monkeypatch.delenv("HOSPIFLOW_DATABASE_URL", raising=False)
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    result = runner.invoke(group, ["init", "--db", db])
    assert result.exit_code == 0, result.output
    assert "no runs" in runner.invoke(group, ["status", "--db", db]).output
    scenario = default_scenario(days=3, seed=1)
    sink = StoreSink(f"sqlite:///{db}", scenario.load_catalog())
    simulate(scenario, sinks=[sink])
    status = runner.invoke(group, ["status", "--db", db])
    assert status.exit_code == 0 and "complete" in status.output
    assert runner.invoke(group, ["upgrade", "--db", db]).exit_code == 0
    deleted = runner.invoke(group, ["delete-run", str(sink.run_id), "--db", db])
    assert deleted.exit_code == 0, deleted.output
    assert "no runs" in runner.invoke(group, ["status", "--db", db]).output
    missing = runner.invoke(group, ["delete-run", "999", "--db", db])
    assert missing.exit_code != 0
