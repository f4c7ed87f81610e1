"""Browser rendering benchmark of the live run view (headless Debian Chromium, 1280x720).

    .venv/bin/python bench/ui_render.py [--sizes 200,2000] [--updates 500] [--runs 3] [--json out.json]

For each tree size it creates a tree (a parent hierarchy with fan-out 4 plus 0.3 extra forward
dependencies per task, like the layout benchmark of the UX research), serves Arbor with Daphne on
a private SQLite database, opens /trees/<id>/ and reports, from navigation start:

- first render: the graph is drawn (data fetched, laid out, first frame painted);
- interactive: every startup task done and the page answers input; "click→detail" is then measured
  by a real mouse click on a node until its detail panel shows;
- long tasks: the main-thread tasks over 50 ms up to "interactive" (total blocking time).

"cold" runs start with an empty layout cache; "warm" runs reuse the positions cached for the tree.
Then, on the largest tree, 500 status/progress updates arrive at 250 per second through the same
code path the websocket uses, and the frame times while they are applied are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="arbor-ui-bench-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
        "ARBOR_VAR_DIR": str(TMP),
        "DEBUG": "1",
        "ARBOR_DISPATCH": "none",
        "ARBOR_LOG_LEVEL": "WARNING",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
    }
)
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from tasks_app.services import trees  # noqa: E402

PORTS = range(58490, 58500)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
INIT_SCRIPT = """
window.__longtasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]); })
    .observe({ type: "longtask", buffered: true });
} catch (e) {}
"""


def tree_tasks(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    tasks = [{"id": "t0", "name": "root", "executor": "noop"}]
    for i in range(1, n):
        parent = (i - 1) // 4
        task: dict[str, Any] = {
            "id": f"t{i}",
            "name": f"task-{i:05d}",
            "executor": "noop",
            "parent_id": f"t{parent}",
        }
        deps = []
        if i > 8 and rng.random() < 0.3:
            deps.append({"id": f"t{rng.randrange(max(1, i - 60), i)}", "required": rng.random() < 0.8})
        if deps and deps[0]["id"] != f"t{parent}":
            task["dependencies"] = deps
        tasks.append(task)
    return tasks


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "orchestrator_site.asgi:application",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:] if proc.stderr else "server exited")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("daphne did not start")


def percentile(values, p):
    values = sorted(values)
    if not values:
        return 0.0
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def measure_load(page, url: str, *, cold: bool) -> dict:
    if cold:
        page.evaluate(
            "() => { for (const k of Object.keys(localStorage)) if (k.startsWith('arbor.')) "
            "localStorage.removeItem(k); }"
        )
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    metrics = page.evaluate("JSON.parse(JSON.stringify(window.__arborMetrics))")
    longtasks = page.evaluate("window.__longtasks")
    interactive = metrics["interactive"]
    blocking = sum(max(0.0, d - 50) for s, d in longtasks if s < interactive)
    longest = max((d for s, d in longtasks if s < interactive), default=0.0)
    # a real click on a node until its details are on screen
    target = page.evaluate("""() => {
        const cy = arborRun.cy; const ext = cy.extent();
        const n = cy.nodes().filter(x => { const p = x.position();
          return p.x > ext.x1 && p.x < ext.x2 && p.y > ext.y1 + 60 && p.y < ext.y2; })[0];
        const p = n.renderedPosition(); const box = cy.container().getBoundingClientRect();
        return {id: n.id(), x: box.left + p.x, y: box.top + p.y};
    }""")
    page.evaluate(
        "() => { window.__clickAt = 0; document.getElementById('detail').addEventListener('click', "
        "() => {}, {once: true}); }"
    )
    t0 = time.perf_counter()
    page.mouse.click(target["x"], target["y"])
    page.wait_for_selector(f'#detail [data-task="{target["id"]}"]', timeout=30_000)
    click_ms = (time.perf_counter() - t0) * 1000
    return {
        "fetch_ms": metrics["dataReady"] - metrics["fetchStart"],
        "layout_ms": metrics["layoutDone"] - metrics["dataReady"],
        "first_render_ms": metrics["firstRender"],
        "interactive_ms": interactive,
        "total_blocking_ms": blocking,
        "longest_task_ms": longest,
        "click_to_detail_ms": click_ms,
    }


def measure_updates(page, count: int, per_second: int) -> dict:
    """Apply ``count`` live events at ``per_second`` through the websocket's code path."""
    return page.evaluate(
        """async ([count, perSecond]) => {
            const ids = Array.from(arborRun.state.tasks.keys());
            const cy = arborRun.cy;
            // a drawn node (a collapsed big tree draws only its visible tasks)
            const probe = cy.nodes()[Math.floor(cy.nodes().length / 2)];
            const before = Object.assign({}, probe.position());
            let seq = arborRun.state.live.seq.seq;
            const frames = [];
            let last = performance.now();
            let running = true;
            const tick = (t) => { frames.push(t - last); last = t;
              if (running) requestAnimationFrame(tick); };
            requestAnimationFrame(tick);
            await new Promise(r => setTimeout(r, 300));
            frames.length = 0;
            const batch = Math.max(1, Math.round(perSecond / 20));
            const started = performance.now();
            let sent = 0;
            let i = 0;
            while (sent < count) {
              const evs = [];
              for (let k = 0; k < batch && sent < count; k += 1, sent += 1, i += 1) {
                const id = ids[(i * 7919) % ids.length];
                const r = i % 5;
                seq += 1;
                if (r === 0) evs.push({type: "event", seq, kind: "task.status", task: id,
                  data: {status: "in_progress", attempt: 1}});
                else if (r < 4) evs.push({type: "event", seq, kind: "task.progress", task: id,
                  data: {progress: r / 4, message: ""}});
                else evs.push({type: "event", seq, kind: "task.status", task: id,
                  data: {status: i % 3 ? "completed" : "failed", error: i % 3 ? null : "boom"}});
              }
              arborRun.injectEvents(evs);
              await new Promise(r => setTimeout(r, 1000 / 20));
            }
            await new Promise(r => setTimeout(r, 300));
            running = false;
            const after = probe.position();
            return {frames, seconds: (performance.now() - started) / 1000,
              applied: arborRun.metrics.flushed || 0,
                    moved: Math.abs(after.x - before.x) + Math.abs(after.y - before.y)};
        }""",
        [count, per_second],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--rate", type=int, default=250, help="updates per second")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    tree_ids = {}
    for n in sizes:
        t0 = time.perf_counter()
        tree = trees.tree_create(owner=user, tasks=tree_tasks(n))
        tree_ids[n] = str(tree.id)
        print(f"created a {n}-task tree in {time.perf_counter() - t0:.2f} s")
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value

    port = free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}"
    results: dict = {"viewport": "1280x720", "browser": "", "sizes": {}}
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            results["browser"] = f"chromium {browser.version}"
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            context.add_init_script(INIT_SCRIPT)
            page = context.new_page()
            page.goto(f"{base}/")  # warm the server and the static files once
            for n in sizes:
                url = f"{base}/trees/{tree_ids[n]}/"
                size = len(client.get(f"/api/v1/trees/{tree_ids[n]}/").content)
                row: dict[str, Any] = {"payload_kb": round(size / 1024), "cold": [], "warm": []}
                for _ in range(args.runs):
                    row["cold"].append(measure_load(page, url, cold=True))
                    row["warm"].append(measure_load(page, url, cold=False))
                results["sizes"][n] = row
            largest = max(sizes)
            page.goto(f"{base}/trees/{tree_ids[largest]}/")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            upd = measure_updates(page, args.updates, args.rate)
            frames = upd["frames"]
            results["updates"] = {
                "tasks": largest,
                "events": args.updates,
                "seconds": round(upd["seconds"], 2),
                "applied": upd["applied"],
                "frames": len(frames),
                "frame_mean_ms": round(statistics.fmean(frames), 1) if frames else None,
                "frame_p95_ms": round(percentile(frames, 95), 1),
                "frame_max_ms": round(max(frames), 1) if frames else None,
                "frames_over_50ms": sum(1 for f in frames if f > 50),
                "node_moved_px": upd["moved"],
            }
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(TMP, ignore_errors=True)

    med = lambda rows, key: round(statistics.median(r[key] for r in rows))  # noqa: E731
    print(
        f"\nArbor run view, {results['browser']}, viewport 1280x720, median of {args.runs} runs "
        "(ms from navigation start)"
    )
    print(
        f"{'tasks':>6} {'cache':>5} {'API KB':>7} {'fetch':>6} {'layout':>7} {'first render':>13} "
        f"{'interactive':>12} "
        f"{'blocking':>9} {'longest':>8} {'click→detail':>13}"
    )
    for n, row in results["sizes"].items():
        for kind in ("cold", "warm"):
            rows = row[kind]
            print(
                f"{n:>6} {kind:>5} {row['payload_kb']:>7} {med(rows, 'fetch_ms'):>6} "
                f"{med(rows, 'layout_ms'):>7} "
                f"{med(rows, 'first_render_ms'):>13} {med(rows, 'interactive_ms'):>12} "
                f"{med(rows, 'total_blocking_ms'):>9} "
                f"{med(rows, 'longest_task_ms'):>8} {med(rows, 'click_to_detail_ms'):>13}"
            )
    u = results["updates"]
    print(
        f"\n{u['events']} live updates on the {u['tasks']}-task tree in {u['seconds']} s "
        f"({u['applied']} applied): "
        f"frame time mean {u['frame_mean_ms']} ms, p95 {u['frame_p95_ms']} ms, max {u['frame_max_ms']} ms, "
        f"{u['frames_over_50ms']} of {u['frames']} frames over 50 ms; node moved "
        f"{u['node_moved_px']} px (no re-layout)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
