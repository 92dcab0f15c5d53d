"""The background warm-up of imports (ui.warmup): loads modules once, reports failures, yields."""

import sys
import threading
import time
import types

import pytest

from ui import warmup


@pytest.fixture
def fresh(monkeypatch):
    """A warm-up state of its own, as in a new server process."""
    monkeypatch.setattr(warmup, "_state", {"thread": None, "done": [], "failed": {}, "seconds": None})
    monkeypatch.delenv("LMKVIZ_WARMUP", raising=False)
    return warmup


def _slow_module(monkeypatch, name, seconds, log):
    """A module whose import takes ``seconds`` and records the thread that ran it."""

    class Finder:
        def find_spec(self, fullname, path=None, target=None):
            if fullname != name:
                return None
            import importlib.machinery

            return importlib.machinery.ModuleSpec(fullname, self)

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            log.append((threading.current_thread().name, time.perf_counter()))
            time.sleep(seconds)
            module.ready = True

    finder = Finder()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    monkeypatch.delitem(sys.modules, name, raising=False)
    return finder


def test_imports_each_module_once_in_a_background_thread(fresh, monkeypatch):
    log = []
    _slow_module(monkeypatch, "lmkviz_fake_heavy", 0.3, log)
    assert fresh.start(("lmkviz_fake_heavy",)) is True
    assert fresh.start(("lmkviz_fake_heavy",)) is False  # once per process
    assert fresh.wait(timeout=10) is True
    assert log and log[0][0] == "lmkviz-warmup"
    assert sys.modules["lmkviz_fake_heavy"].ready
    status = fresh.status()
    assert status["done"] == ["lmkviz_fake_heavy"] and not status["running"] and status["seconds"] >= 0.3


def test_a_page_waiting_for_it_finds_the_module_loaded_and_imports_it_only_once(fresh, monkeypatch):
    log = []
    _slow_module(monkeypatch, "lmkviz_fake_heavy", 0.5, log)
    fresh.start(("lmkviz_fake_heavy",))
    time.sleep(0.05)
    assert fresh.wait(timeout=0) is False  # still importing
    assert fresh.wait() is True
    import lmkviz_fake_heavy  # noqa: F401  (what the page does next)

    assert len(log) == 1


def test_a_failing_import_is_reported_and_the_others_still_load(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "lmkviz_fake_ok", types.ModuleType("lmkviz_fake_ok"))
    fresh.start(("lmkviz_missing_module_xyz", "lmkviz_fake_ok"))
    fresh.wait(timeout=10)
    status = fresh.status()
    assert "lmkviz_missing_module_xyz" in status["failed"] and "ModuleNotFoundError" in status["failed"][
        "lmkviz_missing_module_xyz"]
    assert status["done"] == ["lmkviz_fake_ok"]


def test_turned_off_by_the_environment(fresh, monkeypatch):
    monkeypatch.setenv("LMKVIZ_WARMUP", "0")
    assert fresh.start(("json",)) is False
    assert fresh.status()["started"] is False and fresh.wait() is True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_the_thread_runs_at_a_lower_priority_than_the_server(fresh, monkeypatch):
    import os

    seen = {}
    real_import = fresh.importlib.import_module

    def probe(name):
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return real_import(name)

    monkeypatch.setattr(fresh.importlib, "import_module", probe)
    fresh.start(("json",))
    fresh._state["thread"].join(10)
    assert seen["nice"] >= os.getpriority(os.PRIO_PROCESS, 0) + min(fresh.NICE, 19 - os.getpriority(os.PRIO_PROCESS, 0))
