"""Lines of torchrun-era and single-machine scripts that must keep working under distgrad:
``@record`` on the entry point and ``nn.DataParallel``."""
import json

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.distributed.elastic.multiprocessing.errors import record


def test_record_passes_results_through_and_writes_the_error_file_torchrun_reads(tmp_path, monkeypatch):
    assert record(lambda a, b=2: a + b)(1, b=3) == 4
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(tmp_path / "error.json"))

    @record
    def main():
        raise ValueError("bad config")

    with pytest.raises(ValueError, match="bad config"):
        main()
    written = json.loads((tmp_path / "error.json").read_text())["message"]
    assert written["message"] == "ValueError: bad config"
    assert "raise ValueError" in written["extraInfo"]["py_callstack"]


def test_record_lets_a_clean_exit_through_without_an_error_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(tmp_path / "error.json"))
    with pytest.raises(SystemExit):
        record(lambda: exit(0))()
    assert not (tmp_path / "error.json").exists()


def test_data_parallel_runs_the_module_and_keeps_torchs_state_dict_keys():
    torch = pytest.importorskip("torch")
    dg.manual_seed(0)
    inner = nn.Linear(3, 2).double()
    model = nn.DataParallel(inner)
    reference = torch.nn.DataParallel(torch.nn.Linear(3, 2).double())
    assert list(model.state_dict()) == list(reference.state_dict()) == ["module.weight", "module.bias"]
    reference.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(model(dg.tensor(x)).detach().numpy(),
                               reference(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert model.module is inner and model.device_ids == [] and list(model.parameters()) == list(inner.parameters())
    from distgrad.nn.parallel import DataParallel
    assert DataParallel is nn.DataParallel
