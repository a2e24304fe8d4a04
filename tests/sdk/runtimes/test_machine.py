"""What the runtimes read off the machine: the memory and cores this process may use, its CPU's flags."""

from __future__ import annotations

from simcse_sdk.runtimes import machine


def test_available_memory_reads_the_cgroup_limit(tmp_path):
    (tmp_path / "memory.max").write_text("1000000\n")
    (tmp_path / "memory.current").write_text("400000\n")
    assert machine.available_memory(str(tmp_path)) <= 600000
    (tmp_path / "memory.max").write_text("max\n")
    assert machine.available_memory(str(tmp_path)) > 600000
    (tmp_path / "memory").mkdir()  # cgroup v1
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("2000000\n")
    (tmp_path / "memory" / "memory.usage_in_bytes").write_text("500000\n")
    assert machine.available_memory(str(tmp_path)) <= 1500000


def test_cpu_quota_caps_the_threads(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs
    assert machine.cgroup_cpu_quota(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert machine.cgroup_cpu_quota(str(tmp_path)) is None


def test_missing_int8_flags_are_those_the_export_cpu_had_and_this_one_lacks():
    here = set(machine.cpu_description()["int8_flags"])
    assert machine.missing_int8_flags(sorted(here)) == []
    assert machine.missing_int8_flags(["a_flag_no_cpu_has"]) == ["a_flag_no_cpu_has"]
