"""HMI bench: the line at full speed with and without HMI browsers, what each part of the HMI
costs the machine, and the time from a line event to the screen.

Runs of the same batch (simulated line and daemon as subprocesses, no injected defects), one per
variant: ``none`` (no HMI), ``hmi`` (``linectl hmi`` following the daemon's event stream, no
browser), ``hmi+N`` (N headless Chromium clients logged in on the overview; ``--screens`` puts
them on other screens too: ``overview,rejects,aggregation`` gives one browser each, the record
screens refreshing live from the HMI as the line runs) and ``hmi+N-static`` (N browsers logged
in on the overview with its live stream closed: a page that does not update). The default is
``none`` then ``hmi+3``; ``--pairs N`` runs that pair N times, interleaved, and prints each.

Per run it prints the daemon's verdict latency (camera trigger to verdict written to the PLC,
p50/p99/max), the load average at its start, and the CPU each part used from Start to Complete
as a share of one core (utime + stime from /proc): the daemon (and of that its event-loop
thread), the HMI process, the browsers (chromedriver and every Chromium process under it); and
how long the daemon's and the simulators' threads were runnable but waited for a core
(``/proc/<pid>/task/*/schedstat``, ms per second of line time: what other work on the cores cost
them). For
browsers on the overview, the event-to-screen latency: for every new value of the "Good" counter
in each browser (a MutationObserver stamps it with the browser's clock), the time since the
daemon's event stream carried the good verdict that made that count (read by this bench on its
own subscription, same machine clock). The browsers run on the same machine at nice 19,
standing in for panels and PCs elsewhere on the LAN. Figures only, never pass/fail.

    python bench/hmi_load.py [--speed 6000] [--seconds 20] [--browsers 3] [--pairs 1]
                             [--variants none,hmi,hmi+1,hmi+3,hmi+3-static]
                             [--screens overview,rejects,aggregation] [--defect-rate 0.01]
                             [--browser-priority nice|idle] [--no-clock]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness.demo import BATCH, DemoOptions, provision, simulator_config
from harness.hmi_demo import VIEWER, start_demo_hmi
from harness.processes import (
    REPO,
    DemoFiles,
    control_client,
    daemon_config,
    start_daemon,
    start_simulators,
    toml_text,
)
from linectl.config import load_config
from linectl.line.control import Command
from linectl.service.client import Endpoint

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
WORKDIR = REPO / "var" / "bench" / "hmi"
OBSERVE = """
window.__seen = [];
const el = document.querySelector('[data-field=good]');
new MutationObserver(() => window.__seen.push([Date.now() / 1000, el.textContent]))
  .observe(el, {childList: true, characterData: true, subtree: true});
"""
COUNT_REFRESHES = """
window.__refreshes = 0;
document.addEventListener('linectl:refreshed', () => { window.__refreshes += 1; });
"""
# the page closes its live stream when the browser puts it away (hmi.js): a shown page that
# no longer updates
FREEZE = "window.dispatchEvent(new Event('pagehide'));"
SCREENS = ("overview", "batch", "rejects", "aggregation", "alarms", "audit")
VARIANT = re.compile(r"^(none|hmi)(?:\+(\d+)(-static)?)?$")


@dataclass(frozen=True)
class Variant:
    """What watches the line in one run."""

    name: str
    hmi: bool = False
    browsers: int = 0
    static: bool = False

    @classmethod
    def parse(cls, text: str) -> Variant:
        m = VARIANT.match(text)
        if m is None or (m[1] == "none" and m[2]):
            raise ValueError(f"unknown variant {text!r} (none, hmi, hmi+N, hmi+N-static)")
        return cls(text, m[1] == "hmi", int(m[2] or 0), bool(m[3]))


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of ``pid`` (or of its thread ``thread``); 0 once it is gone."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        with open(path, encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def waited_s(pid: int) -> float:
    """Seconds the threads of ``pid`` spent runnable but waiting for a core (schedstat)."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            path = f"/proc/{pid}/task/{tid}/schedstat"
            with contextlib.suppress(OSError, ValueError, IndexError), open(path, "rb") as f:
                total += int(f.read().split()[1])
    return total / 1e9


def tree_cpu(roots: list[int]) -> dict[int, float]:
    """CPU seconds of each process in the trees under ``roots`` (the roots included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found: dict[int, float] = {}
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = cpu_seconds(pid)
            todo.extend(children.get(pid, []))
    return found


def lowest_priority(policy: str) -> None:
    """In a browser's chromedriver before it starts (its Chromium processes inherit it)."""
    if policy == "idle":  # runs only when no other task wants the core
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    os.nice(19)


def browser(profile: Path, policy: str = "nice") -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)  # fmt: skip
    options.accept_insecure_certs = True
    # the browsers stand in for panels and PCs elsewhere on the LAN: on this machine they run
    # at the lowest priority, so that they take only the CPU the line leaves (nice 19; or
    # SCHED_IDLE: a waking line thread then always preempts them at once, where a nice 19 task
    # may finish its time slice first)
    service = Service(
        shutil.which("chromedriver"), popen_kw={"preexec_fn": lambda: lowest_priority(policy)}
    )
    return webdriver.Chrome(options=options, service=service)


class StreamClock:
    """Reads the daemon's event stream on a thread: when each Good count was first seen."""

    def __init__(self, config: Path, token: str) -> None:
        self.endpoint = Endpoint.from_config(load_config(config).control)
        self.token = token
        self.seen: list[tuple[int, float]] = []  # (good, time) in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench event stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        conn = self.endpoint.connection(timeout=5.0)
        # each good verdict when the daemon wrote it: not throttled (the counters event is, to
        # 10 a second), not batched (batch_ms=0), the rest left out
        query = "skip=committed,pool-level,upstream-level&batch_ms=0"
        conn.request(
            "GET", f"/v1/events?{query}", headers={"Authorization": f"Bearer {self.token}"}
        )
        response = conn.getresponse()
        name = ""
        good = 0
        while not self._stop.is_set():
            line = response.fp.readline()
            if not line:
                return
            text = line.decode().strip()
            if text.startswith("event:"):
                name = text[6:].strip()
            elif text.startswith("data:"):
                data = json.loads(text[5:])
                if name == "verdict-written":
                    good += data.get("verdict") == "GOOD"
                elif name in ("counters", "snapshot"):  # a new start, or after a missed one
                    values = data.get("values") if name == "counters" else data.get("counters")
                    good = max(good, int((values or {}).get("verdicts_good", 0)))
                if not self.seen or good > self.seen[-1][0]:
                    self.seen.append((good, time.time()))

    def first_time(self, good: int) -> float | None:
        i = bisect.bisect_left([g for g, _ in self.seen], good)
        return self.seen[i][1] if i < len(self.seen) else None

    def stop(self) -> None:
        self._stop.set()


def run(
    speed: float,
    seconds: float,
    workdir: Path,
    variant: Variant,
    screens: tuple[str, ...] = ("overview",),
    defect_rate: float = 0.0,
    policy: str = "nice",
    timed: bool = True,
) -> dict[str, Any]:
    """One batch watched as ``variant`` says, the n-th browser on ``screens[n % len(screens)]``."""
    packs = max(100, round(speed * seconds / 60))
    files = DemoFiles(workdir)
    files.root.mkdir(parents=True)
    options = DemoOptions(
        packs=packs, packs_per_minute=speed, defect_rate=defect_rate, workdir=files.root
    )
    source = tomllib.loads((REPO / "config" / "demo-line.toml").read_text(encoding="utf-8"))
    sim_data = simulator_config(source, options, files)
    files.sim_config.write_text(toml_text(sim_data), encoding="utf-8")
    result: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        sim, ports = start_simulators(files)
        stack.callback(sim.stop)
        config = daemon_config(sim_data, ports, files)
        config["thresholds"]["consecutive_rejects_hold"] = 1000
        files.config.write_text(toml_text(config), encoding="utf-8")
        used = provision(files, options, io.StringIO())
        drivers: list[webdriver.Chrome] = []  # on the overview: their counter is timed
        watching: list[webdriver.Chrome] = []  # on a record screen: its refreshes are counted
        every: list[webdriver.Chrome] = []
        clock = None
        if variant.hmi:
            hmi = start_demo_hmi(files, used[0], io.StringIO())
            stack.callback(hmi.stop)
        daemon = start_daemon(files)
        stack.callback(daemon.stop)
        if variant.browsers:
            if timed and not variant.static:
                clock = StreamClock(files.config, hmi.secrets[2])
                stack.callback(clock.stop)
            profiles = Path(tempfile.mkdtemp(prefix="hmi-bench-"))
            stack.callback(shutil.rmtree, profiles, True)
            for n in range(variant.browsers):
                d = browser(profiles / str(n), policy)
                stack.callback(d.quit)
                every.append(d)
                d.get(hmi.url + "login")
                d.find_element(By.ID, "user-name").send_keys(VIEWER)
                d.find_element(By.ID, "password").send_keys(hmi.secrets[1])
                d.find_element(By.ID, "login-button").click()
                WebDriverWait(d, 30).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=good]")
                )
                screen = screens[n % len(screens)]
                if screen != "overview":
                    d.get(hmi.url + screen)
                if variant.static:
                    d.execute_script(FREEZE)
                elif screen == "overview":
                    d.execute_script(OBSERVE)
                    drivers.append(d)
                else:
                    d.execute_script(COUNT_REFRESHES)
                    watching.append(d)
        roots = [d.service.process.pid for d in every]
        client = control_client(files.config)
        result["load"] = os.getloadavg()[0]
        cpu0 = (
            cpu_seconds(daemon.pid),
            cpu_seconds(daemon.pid, daemon.pid),
            cpu_seconds(hmi.child.pid) if variant.hmi else 0.0,
            tree_cpu(roots),
            waited_s(daemon.pid),
            waited_s(sim.pid),
        )
        t0 = time.monotonic()
        client.command(Command.START, reason="HMI bench", batch=BATCH)
        deadline = t0 + 3 * seconds + 60
        while client.status()["state"]["name"] not in ("COMPLETE", "HELD", "STOPPED", "ABORTED"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        wall = time.monotonic() - t0
        browsers_now = tree_cpu(roots)
        result["cpu"] = {
            "daemon": (cpu_seconds(daemon.pid) - cpu0[0]) / wall,
            "loop": (cpu_seconds(daemon.pid, daemon.pid) - cpu0[1]) / wall,
            "hmi": (cpu_seconds(hmi.child.pid) - cpu0[2]) / wall if variant.hmi else 0.0,
            "browsers": sum(t - cpu0[3].get(pid, 0.0) for pid, t in browsers_now.items()) / wall,
            "daemon_wait": (waited_s(daemon.pid) - cpu0[4]) / wall,
            "sims_wait": (waited_s(sim.pid) - cpu0[5]) / wall,
        }
        time.sleep(1.0)  # the last pushes reach the browsers
        status = client.status()
        result["state"] = status["state"]["name"]
        result["latency"] = status["verdict_latency_ms"]
        result["packs"] = status["counters"]["packs_gated"]
        result["late"] = status["counters"]["verdicts_late"]
        delays: list[float] = []
        samples: list[tuple[int, int, float]] = []
        updates = 0
        for d in drivers:
            seen = d.execute_script("return window.__seen")
            shown: set[int] = set()
            for at, text in seen:
                good = int("".join(ch for ch in text if ch.isdigit()) or "0")
                if good in shown:
                    continue  # the same count set again by a later push: not news
                shown.add(good)
                updates += 1
                start = clock.first_time(good) if clock is not None else None
                if start is not None and good > 0:
                    delays.append(1000 * (at - start))
                    samples.append((round(1000 * (at - start)), good, round(at, 3)))
        result["delays"] = sorted(delays)
        (workdir / "event-to-screen.json").write_text(json.dumps(sorted(samples)), "utf-8")
        result["updates"] = updates
        result["screens"] = len(drivers)
        result["refreshes"] = [int(d.execute_script("return window.__refreshes")) for d in watching]
    return result


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def report(name: str, r: dict[str, Any], seconds: float) -> None:
    lat, cpu = r["latency"], r["cpu"]
    print(
        f"  {name:<16} load {r['load']:4.2f}  {r['state']:<8} packs {r['packs']:>5} late "
        f"{r['late']:>2}  verdict p50 {lat.get('p50')!s:>5} p99 {lat.get('p99')!s:>6} max "
        f"{lat.get('max')!s:>6} ms  CPU daemon {100 * cpu['daemon']:3.0f}% (loop "
        f"{100 * cpu['loop']:3.0f}%) hmi {100 * cpu['hmi']:3.0f}% browsers "
        f"{100 * cpu['browsers']:3.0f}%; waited for a core: daemon "
        f"{1000 * cpu['daemon_wait']:3.0f} ms/s, simulators {1000 * cpu['sims_wait']:3.0f} ms/s",
        flush=True,
    )
    d = r["delays"]
    if d:
        print(
            f"    event to screen ({len(d)} counter updates in {r['screens']} browsers, "
            f"{r['updates'] / max(seconds, 1) / max(r['screens'], 1):.1f} updates/s each):"
            f" p50 {statistics.median(d):.0f} ms, p99 {pct(d, 0.99):.0f} ms, max {d[-1]:.0f} ms"
        )
    if r["refreshes"]:
        each = ", ".join(f"{n / max(seconds, 1):.1f}/s" for n in r["refreshes"])
        print(f"    record screens: live refreshes per browser {each}")


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--speed", type=float, default=6000.0, help="packs/min")
    p.add_argument("--seconds", type=float, default=20.0, help="line time per run")
    p.add_argument("--browsers", type=int, default=3, help="of the default pair's second run")
    p.add_argument("--variants", default="", help="comma-separated (default: none,hmi+BROWSERS)")
    p.add_argument("--pairs", type=int, default=1, help="run the variants this many times")
    p.add_argument("--screens", default="overview", help="comma-separated, cycled over browsers")
    p.add_argument("--defect-rate", type=float, default=0.0, help="rejects with a frame")
    p.add_argument(
        "--browser-priority",
        choices=("nice", "idle"),
        default="nice",
        help="browsers at nice 19, or SCHED_IDLE (and nice 19)",
    )
    p.add_argument(
        "--no-clock",
        action="store_true",
        help="no event-to-screen timing (its unbatched stream is one more reader of the daemon)",
    )
    p.add_argument("--workdir", type=Path, default=WORKDIR, help="wiped first")
    args = p.parse_args()
    screens = tuple(s.strip() for s in args.screens.split(",") if s.strip())
    if not screens or set(screens) - set(SCREENS):
        p.error(f"--screens: choose from {', '.join(SCREENS)}")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    try:
        variants = [Variant.parse(v) for v in names or ["none", f"hmi+{args.browsers}"]]
    except ValueError as exc:
        p.error(f"--variants: {exc}")
    args.workdir = args.workdir.resolve()
    shutil.rmtree(args.workdir, ignore_errors=True)
    print(
        f"HMI bench: {args.speed:.0f} packs/min, {args.seconds:.0f} s of line time per run, "
        f"{os.cpu_count()} CPUs; browsers on {', '.join(screens)} at "
        f"{'SCHED_IDLE' if args.browser_priority == 'idle' else 'nice 19'}; CPU as % of one core"
    )
    p99: dict[str, list[float]] = {v.name: [] for v in variants}
    for n in range(args.pairs):
        if args.pairs > 1:
            print(f" round {n + 1}")
        for v in variants:
            workdir = args.workdir / f"{n}-{v.name}"
            r = run(
                args.speed,
                args.seconds,
                workdir,
                v,
                screens,
                args.defect_rate,
                args.browser_priority,
                not args.no_clock,
            )
            report(v.name, r, args.seconds)
            if r["latency"].get("p99") is not None:
                p99[v.name].append(float(r["latency"]["p99"]))
    if args.pairs > 1:
        print("verdict p99 over the rounds (min / median / max, ms):")
        for name, values in p99.items():
            if values:
                print(
                    f"  {name:<16} {min(values):6.2f} / {statistics.median(values):6.2f} / "
                    f"{max(values):6.2f}   ({', '.join(f'{x:.2f}' for x in values)})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
