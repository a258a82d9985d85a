"""Human text for a sample: (label, value) rows shared by `mvla monitor` and the app's monitor panel.

Plain strings only; no rich or textual here. An unknown figure is written "n/a", never 0.
"""

from __future__ import annotations

from mvla_tui.telemetry.sample import GpuSample, TelemetrySample

NA = "n/a"
GIB = 1024**3


def gib(value: int | None) -> str:
    return NA if value is None else f"{value / GIB:.2f} GiB"


def used_of(used: int | None, total: int | None) -> str:
    if used is None and total is None:
        return NA
    pct = f" ({100 * used / total:.0f} %)" if used is not None and total else ""
    return f"{gib(used)} / {gib(total)}{pct}"


def _num(value: float | None, unit: str, digits: int = 1) -> str:
    return NA if value is None else f"{value:.{digits}f} {unit}"


def gpu_text(gpu: GpuSample) -> str:
    memory = used_of(gpu.memory_used_bytes, gpu.memory_total_bytes)
    if gpu.memory_shared:
        memory += ", shared with the CPU (system RAM)"
    return (
        f"{gpu.name}: {_num(gpu.utilisation_percent, '%', 0)}, memory {memory}, "
        f"{_num(gpu.temperature_c, '°C')}, power {_num(gpu.power_w, 'W', 2)}"
    )


def sample_rows(sample: TelemetrySample) -> list[tuple[str, str]]:
    cores = ""
    if sample.cpu_percent_per_core:
        cores = "  [" + " ".join(f"{p:.0f}" for p in sample.cpu_percent_per_core) + "]"
    rows = [
        ("CPU", _num(sample.cpu_percent, "%") + cores),
        ("RAM", used_of(sample.ram_used_bytes, sample.ram_total_bytes)),
        ("Swap", used_of(sample.swap_used_bytes, sample.swap_total_bytes)),
        ("Process RSS", gib(sample.process_rss_bytes)),
    ]
    if not sample.gpus:
        rows.append(("GPU", "none found"))
    for gpu in sample.gpus:
        rows.append((f"GPU {gpu.index}", gpu_text(gpu)))
    temps = "  ".join(f"{name} {c:.1f} °C" for name, c in sorted(sample.temperatures_c.items()))
    rows.append(("Temperatures", temps or NA))
    rails = "  ".join(f"{name} {w:.2f} W" for name, w in sorted(sample.power_rails_w.items()))
    power = f"total {_num(sample.power_total_w, 'W', 2)}" + (f"  ({rails})" if rails else "")
    rows.append(("Power", power if sample.power_total_w is not None or rails else NA))
    if sample.torch_reserved_bytes is None:
        torch_text = "not in use in this process"
    else:
        torch_text = (
            f"allocated {gib(sample.torch_allocated_bytes)}, reserved {gib(sample.torch_reserved_bytes)}, "
            f"peak {gib(sample.torch_peak_bytes)}"
        )
    rows.append(("Torch CUDA", torch_text))
    rows.append(("Sources", ", ".join(sample.sources) or "none"))
    rows.extend(("Note", note) for note in sample.notes)
    return rows
