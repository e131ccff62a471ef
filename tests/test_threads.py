"""The thread policy: one count for BLAS, OpenMP and torch, chosen from the idle usable cores."""

import pytest

from crfkit import CrfkitError
from crfkit._threads import (active_threads, default_threads, idle_cores, thread_policy, usable_cores)


def _blas_threads():
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_usable_and_idle_cores_are_sane():
    cores = usable_cores()
    assert cores >= 1
    idle = idle_cores(0.02)
    assert idle is None or 0.0 <= idle <= cores + 1e-9


def test_default_follows_the_environment(monkeypatch):
    monkeypatch.setenv("CRFKIT_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("CRFKIT_THREADS", "lots")
    with pytest.raises(CrfkitError, match="CRFKIT_THREADS"):
        default_threads()
    monkeypatch.delenv("CRFKIT_THREADS")
    assert 1 <= default_threads() <= usable_cores()


def test_policy_limits_blas_and_restores_it():
    pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401  (loads the BLAS)

    before = _blas_threads()
    with thread_policy(1) as n:
        assert n == 1 and active_threads() == 1
        assert _blas_threads() <= {1}
    assert active_threads() is None
    assert _blas_threads() == before


def test_nested_policies_keep_the_outer_count():
    with thread_policy(2):
        with thread_policy() as inner:
            assert inner == 2
        with thread_policy(1) as explicit:
            assert explicit == 1
        assert active_threads() == 2


@pytest.mark.torch
def test_policy_sets_and_restores_torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with thread_policy(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "x", 10**4])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(CrfkitError, match="threads"):
        with thread_policy(bad):
            pass


def test_command_line_refuses_bad_environment(monkeypatch, capsys):
    from crfkit.cli import main

    monkeypatch.setenv("CRFKIT_THREADS", "0")
    assert main(["info"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CRFKIT_THREADS" in err[0]
