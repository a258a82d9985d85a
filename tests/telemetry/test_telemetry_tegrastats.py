"""The tegrastats parser against recorded lines of several boards and L4T releases, and the source that
runs tegrastats, here a stand-in process that prints a recorded line."""

from __future__ import annotations

import sys

import pytest

from mvla_tui.telemetry.tegrastats import (
    MIB,
    TegrastatsSource,
    parse_tegrastats,
    reading_to_sample_fields,
)

# Recorded lines. Orin NX 16 GB and AGX Orin (L4T 36), AGX Xavier and Nano are from the Datadog agent's
# Jetson check tests; the Orin Nano line (L4T 36, with the date prefix) from a public benchmark log.
ORIN_NX_16GB = (
    "RAM 6334/15388MB (lfb 1770x4MB) SWAP 491/7694MB (cached 0MB) CPU [6%@729,9%@729,5%@729,16%@729,"
    "off,off,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@611 VIC_FREQ 729 APE 174 CV0@45.812C CPU@47.937C "
    "SOC2@46.093C SOC0@46.968C CV1@46.406C GPU@45.875C tj@48.875C SOC1@48.875C CV2@45.75C "
    "VDD_IN 5299mW/5299mW VDD_CPU_GPU_CV 773mW/773mW VDD_SOC 1424mW/1424mW"
)
ORIN_NANO_R36 = (
    "06-18-2025 11:25:24 RAM 3452/7620MB (lfb 25x4MB) SWAP 1518/16384MB (cached 174MB) "
    "CPU [1%@1420,2%@1420,0%@1420,2%@1420,2%@729,1%@729] GR3D_FREQ 0% cpu@50.031C soc2@49.031C "
    "soc0@50C gpu@49.031C tj@50.25C soc1@50.25C VDD_IN 4824mW/4824mW VDD_CPU_GPU_CV 518mW/518mW "
    "VDD_SOC 1475mW/1475mW"
)
AGX_ORIN_R36 = (
    "RAM 29114/30697MB (lfb 3x4MB)    SWAP 4915/15348MB (cached 1MB) CPU [3%@729,4%@729,0%@729,1%@729,"
    "0%@2201,100%@2201,1%@2201,0%@2201,100%@2201,0%@2201,0%@2201,0%@2201] EMC_FREQ 1%@2133 "
    "GR3D_FREQ 0%@[305,305] NVENC      off  NVDEC    off NVJPG off NVJPG1    off         VIC        off"
    "          OFA           off          NVDLA0    off       NVDLA1     off          PVA0_FREQ off"
    "         APE           174        cpu@53.062C soc2@48.25C soc0@48.843C  gpu@47.812C tj@53.062C "
    "soc1@48.968C    VDD_GPU_SOC 3205mW/3205mW VDD_CPU_CV 4405mW/4405mW VIN_SYS_5V0 4767mW/4767mW"
)
AGX_XAVIER = (
    "RAM 721/31927MB (lfb 7291x4MB) SWAP 0/15963MB (cached 0MB) CPU [2%@1190,0%@1190,0%@1190,0%@1190,"
    "off,off,off,off] EMC_FREQ 0%@665 GR3D_FREQ 0%@318 APE 150 MTS fg 0% bg 0% AO@37.5C GPU@37.5C "
    "Tdiode@40C PMIC@100C AUX@36C CPU@37.5C thermal@36.9C Tboard@37C GPU 0/0 CPU 311/311 SOC 932/932 "
    "CV 0/0 VDDRQ 621/621 SYS5V 1482/1482"
)
XAVIER_NX = (
    "RAM 4412/7772MB (lfb 237x4MB) SWAP 139/3886MB (cached 2MB) CPU [9%@1190,6%@1190,6%@1190,5%@1190,"
    "4%@1190,8%@1267] EMC_FREQ 10%@1600 GR3D_FREQ 62%@306 APE 150 MTS fg 0% bg 0% AO@41.5C GPU@43C "
    "PMIC@100C AUX@41.5C CPU@43.5C thermal@42.55C VDD_IN 4067/4067 VDD_CPU_GPU_CV 738/738 VDD_SOC 1353/1353"
)
NANO = (
    "RAM 534/3964MB (lfb 98x4MB) SWAP 5/1982MB (cached 1MB) IRAM 0/252kB(lfb 252kB) CPU [16%@204,9%@204,"
    "0%@204,0%@204] EMC_FREQ 0%@204 GR3D_FREQ 0%@76 APE 25 PLL@34C CPU@36.5C PMIC@100C GPU@36C "
    "AO@39.5C thermal@36.25C POM_5V_IN 1022/1022 POM_5V_GPU 0/0 POM_5V_CPU 204/204"
)


def test_orin_nx_16gb() -> None:
    r = parse_tegrastats(ORIN_NX_16GB)
    assert r is not None
    assert (r.ram_used_mb, r.ram_total_mb, r.swap_used_mb, r.swap_total_mb) == (6334, 15388, 491, 7694)
    assert r.cpu_percent_per_core == (6.0, 9.0, 5.0, 16.0, None, None, None, None)
    assert r.cpu_freq_mhz == (729, 729, 729, 729, None, None, None, None)
    assert (r.emc_percent, r.gpu_percent, r.gpu_freq_mhz) == (0.0, 0.0, 611)
    assert r.temperatures_c["cpu"] == pytest.approx(47.937)
    assert r.temperatures_c["gpu"] == pytest.approx(45.875)
    assert r.temperatures_c["tj"] == pytest.approx(48.875)
    assert r.rails_mw == {"VDD_IN": 5299.0, "VDD_CPU_GPU_CV": 773.0, "VDD_SOC": 1424.0}
    assert "RAM" not in r.rails_mw and "SWAP" not in r.rails_mw


def test_orin_sample_fields_mark_shared_memory_and_keep_the_combined_rail_off_the_gpu() -> None:
    fields = reading_to_sample_fields(parse_tegrastats(ORIN_NX_16GB))  # type: ignore[arg-type]
    (gpu,) = fields["gpus"]
    assert gpu.memory_shared and gpu.memory_total_bytes == 15388 * MIB and gpu.memory_used_bytes is None
    assert gpu.power_w is None  # VDD_CPU_GPU_CV feeds CPU, GPU and CV together
    assert gpu.temperature_c == pytest.approx(45.875)
    assert fields["power_total_w"] == pytest.approx(5.299)
    assert fields["power_rails_w"]["VDD_CPU_GPU_CV"] == pytest.approx(0.773)


def test_orin_r36_with_date_and_no_gpu_frequency() -> None:
    r = parse_tegrastats(ORIN_NANO_R36)
    assert r is not None
    assert r.ram_total_mb == 7620 and r.gpu_percent == 0.0 and r.gpu_freq_mhz is None
    assert len(r.cpu_percent_per_core or ()) == 6
    assert set(r.temperatures_c) == {"cpu", "soc0", "soc1", "soc2", "gpu", "tj"}
    assert r.rails_avg_mw["VDD_SOC"] == 1475.0


def test_agx_orin_bracketed_gpu_frequency_and_padding() -> None:
    r = parse_tegrastats(AGX_ORIN_R36)
    assert r is not None
    assert r.gpu_freq_mhz == 305 and r.swap_used_mb == 4915
    assert r.cpu_percent_per_core is not None and len(r.cpu_percent_per_core) == 12
    assert set(r.rails_mw) == {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"}
    assert reading_to_sample_fields(r)["power_total_w"] is None  # no input rail on this board


def test_xavier_rails_without_units_and_pmic_placeholder_skipped() -> None:
    r = parse_tegrastats(AGX_XAVIER)
    assert r is not None
    assert r.rails_mw == {"GPU": 0.0, "CPU": 311.0, "SOC": 932.0, "CV": 0.0, "VDDRQ": 621.0, "SYS5V": 1482.0}
    assert "pmic" not in r.temperatures_c and r.temperatures_c["tdiode"] == 40.0
    assert reading_to_sample_fields(r)["gpus"][0].power_w == 0.0  # the GPU rail is the GPU alone here
    nx = parse_tegrastats(XAVIER_NX)
    assert nx is not None and nx.gpu_percent == 62.0 and nx.rails_mw["VDD_IN"] == 4067.0


def test_nano_pom_rails_and_iram_not_a_rail() -> None:
    r = parse_tegrastats(NANO)
    assert r is not None
    assert r.rails_mw == {"POM_5V_IN": 1022.0, "POM_5V_GPU": 0.0, "POM_5V_CPU": 204.0}
    assert reading_to_sample_fields(r)["power_total_w"] == pytest.approx(1.022)


def test_sensor_off_is_skipped() -> None:
    r = parse_tegrastats("RAM 1/2MB CPU@47.5C CV0@-256C GPU@-256C")
    assert r is not None and r.temperatures_c == {"cpu": 47.5}


@pytest.mark.parametrize(
    "line", ["", "permission denied", "RAM lots/MB GR3D_FREQ ?%", "\x00\xff garbage @@@ 12/", "CPU []"]
)
def test_malformed_lines_give_none(line: str) -> None:
    assert parse_tegrastats(line) is None


def test_truncated_line_gives_the_fields_it_has() -> None:
    r = parse_tegrastats("RAM 3012/15655MB (lfb 2x4MB) SWAP 0/7827MB (cached 0MB) CPU [2%@729,0%@7")
    assert r is not None
    assert r.ram_used_mb == 3012 and r.swap_total_mb == 7827
    assert r.cpu_percent_per_core is None and r.gpu_percent is None and r.rails_mw == {}


def test_source_reads_the_latest_line_of_a_running_process() -> None:
    script = f"import sys, time; print({ORIN_NX_16GB!r}, flush=True); time.sleep(60)"
    source = TegrastatsSource([sys.executable, "-c", script])
    try:
        assert source.wait_first(timeout=30) is not None
        fields = source.read()
        assert fields["gpus"][0].utilisation_percent == 0.0
        assert fields["power_rails_w"]["VDD_IN"] == pytest.approx(5.299)
    finally:
        source.close()


def test_source_that_cannot_start_says_why() -> None:
    source = TegrastatsSource(["/nonexistent/tegrastats"])
    fields = source.read()
    source.close()
    assert "cannot run /nonexistent/tegrastats" in fields["notes"][0]
