"""HMI bench: the line at full speed with and without three HMI browsers, and the time from a
line event to the screen.

Two runs of the same batch (simulated line and daemon as subprocesses, no injected defects):
first without any HMI, then with ``linectl hmi`` and three headless Chromium clients logged in
on the overview (``--screens`` puts them on other screens too: ``overview,rejects,aggregation``
gives one browser each, the record screens refreshing live from the HMI as the line runs). It
prints the daemon's verdict latency (camera trigger to verdict written to
the PLC, p50/p99/max) of both runs, and, for the second, the event-to-screen latency: for every
new value of the "Good" counter in each browser (a MutationObserver stamps it with the browser's
clock), the time since the daemon's event stream first carried that count (read by this bench
on its own subscription, same machine clock). The browsers run on the same machine at nice 19,
standing in for panels and PCs elsewhere on the LAN. Figures only, never pass/fail.

    python bench/hmi_load.py [--speed 6000] [--seconds 20] [--browsers 3]
                             [--screens overview,rejects,aggregation] [--defect-rate 0.01]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tomllib
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
SCREENS = ("overview", "batch", "rejects", "aggregation", "alarms", "audit")


def browser(profile: Path) -> webdriver.Chrome:
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
    # at the lowest priority, so that they take only the CPU the line leaves
    service = Service(shutil.which("chromedriver"), popen_kw={"preexec_fn": lambda: os.nice(19)})
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
        conn.request("GET", "/v1/events", headers={"Authorization": f"Bearer {self.token}"})
        response = conn.getresponse()
        name = ""
        while not self._stop.is_set():
            line = response.fp.readline()
            if not line:
                return
            text = line.decode().strip()
            if text.startswith("event:"):
                name = text[6:].strip()
            elif text.startswith("data:") and name in ("counters", "snapshot"):
                data = json.loads(text[5:])
                values = data.get("values") if name == "counters" else data.get("counters")
                good = int((values or {}).get("verdicts_good", 0))
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
    browsers: int,
    screens: tuple[str, ...] = ("overview",),
    defect_rate: float = 0.0,
) -> dict[str, Any]:
    """One batch; with ``browsers`` > 0 the HMI and that many Chromium clients watch it, the
    n-th on ``screens[n % len(screens)]``."""
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
        clock = None
        if browsers:
            hmi = start_demo_hmi(files, used[0], io.StringIO())
            stack.callback(hmi.stop)
        daemon = start_daemon(files)
        stack.callback(daemon.stop)
        if browsers:
            clock = StreamClock(files.config, hmi.secrets[2])
            stack.callback(clock.stop)
            profiles = Path(tempfile.mkdtemp(prefix="hmi-bench-"))
            stack.callback(shutil.rmtree, profiles, True)
            for n in range(browsers):
                d = browser(profiles / str(n))
                stack.callback(d.quit)
                d.get(hmi.url + "login")
                d.find_element(By.ID, "user-name").send_keys(VIEWER)
                d.find_element(By.ID, "password").send_keys(hmi.secrets[1])
                d.find_element(By.ID, "login-button").click()
                WebDriverWait(d, 30).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, "[data-field=good]")
                )
                screen = screens[n % len(screens)]
                if screen == "overview":
                    d.execute_script(OBSERVE)
                    drivers.append(d)
                else:
                    d.get(hmi.url + screen)
                    d.execute_script(COUNT_REFRESHES)
                    watching.append(d)
        client = control_client(files.config)
        client.command(Command.START, reason="HMI bench", batch=BATCH)
        deadline = time.monotonic() + 3 * seconds + 60
        while client.status()["state"]["name"] not in ("COMPLETE", "HELD", "STOPPED", "ABORTED"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
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
        result["refreshes"] = [int(d.execute_script("return window.__refreshes")) for d in watching]
    return result


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--speed", type=float, default=6000.0, help="packs/min")
    p.add_argument("--seconds", type=float, default=20.0, help="line time per run")
    p.add_argument("--browsers", type=int, default=3)
    p.add_argument("--screens", default="overview", help="comma-separated, cycled over browsers")
    p.add_argument("--defect-rate", type=float, default=0.0, help="rejects with a frame")
    p.add_argument("--workdir", type=Path, default=WORKDIR, help="wiped first")
    args = p.parse_args()
    screens = tuple(s.strip() for s in args.screens.split(",") if s.strip())
    if not screens or set(screens) - set(SCREENS):
        p.error(f"--screens: choose from {', '.join(SCREENS)}")
    shutil.rmtree(args.workdir, ignore_errors=True)
    print(f"HMI bench: {args.speed:.0f} packs/min, {args.seconds:.0f} s of line time per run")
    print(f"  browsers on: {', '.join(screens[n % len(screens)] for n in range(args.browsers))}")
    runs = {
        "no HMI": run(
            args.speed, args.seconds, args.workdir / "bare", 0, defect_rate=args.defect_rate
        ),
        f"HMI + {args.browsers} browsers": run(
            args.speed,
            args.seconds,
            args.workdir / "hmi",
            args.browsers,
            screens,
            args.defect_rate,
        ),
    }
    for name, r in runs.items():
        lat = r["latency"]
        print(
            f"  {name:<20} {r['state']:<9} packs {r['packs']:>5}  late {r['late']:>3}  verdict "
            f"latency p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms max {lat.get('max')} ms"
        )
    r = runs[f"HMI + {args.browsers} browsers"]
    d = r["delays"]
    if d:
        print(
            f"event to screen ({len(d)} counter updates in {args.browsers} browsers, "
            f"{r['updates'] / max(args.seconds, 1) / max(args.browsers, 1):.1f} updates/s each):"
            f" p50 {statistics.median(d):.0f} ms, p99 {pct(d, 0.99):.0f} ms, max {d[-1]:.0f} ms"
        )
    elif "overview" in screens:
        print("event to screen: no counter update observed")
    if r["refreshes"]:
        each = ", ".join(f"{n / max(args.seconds, 1):.1f}/s" for n in r["refreshes"])
        print(f"record screens: live refreshes per browser {each}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
