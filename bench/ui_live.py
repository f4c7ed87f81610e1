"""The run view of a big tree *while it runs*: Arbor served with real workers, headless Chromium.

    .venv/bin/python bench/ui_live.py [--tasks 2000] [--seconds 0.02] [--timeout 180] [--json out.json]

It creates a ``--tasks``-task tree of short real tasks (``sleep`` for ``--seconds``; the same shape
as bench/ui_render.py: a parent hierarchy with fan-out 4 plus 0.3 extra dependencies per task),
serves Arbor with Daphne and a worker process (django-q2 cluster) on a private SQLite database,
opens /trees/<id>/ in Chromium (1280x720) and reports:

- first render and interactive (ms from navigation start, empty layout cache), then
- the run, started with the page's own "Run" button (its keyboard shortcut, R): every frame's time
  (requestAnimationFrame deltas) from the click until the page shows the tree finished, and a real
  mouse click on a node every 2 s until its detail panel shows (click→detail), plus a wheel zoom.

Nothing here is a timed test: it prints figures to compare before and after a change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# ui_render sets up Django on a private SQLite database in a temporary folder (TMP) at import
from ui_render import CHROMIUM_ARGS, INIT_SCRIPT, ROOT, TMP, free_port, percentile, start_server, tree_tasks

FRAMES_SCRIPT = """() => {
  window.__frames = []; window.__frameRec = true; let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t;
    if (window.__frameRec) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""

CLICK_TARGET = """() => {
  const cy = arborRun.cy; const ext = cy.extent(); const box = cy.container().getBoundingClientRect();
  const nodes = cy.nodes(':visible').filter(x => { const p = x.position();
    return p.x > ext.x1 + 40 && p.x < ext.x2 - 40 && p.y > ext.y1 + 80 && p.y < ext.y2 - 40; });
  // only where the graph itself is on top (not under the minimap, the legend or the toolbar)
  const onTop = nodes.filter(n => { const p = n.renderedPosition();
    const el = document.elementFromPoint(box.left + p.x, box.top + p.y);
                                    return el && cy.container().contains(el); });
  if (!onTop.length) { cy.fit(cy.nodes(':visible'), 40); return null; }
  const n = onTop[Math.floor(Math.random() * onTop.length)]; const p = n.renderedPosition();
  return {id: n.id(), x: box.left + p.x, y: box.top + p.y};
}"""


def start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "arbor_worker"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, grace: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=0.02, help="how long each task sleeps")
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from tasks_app.models import Tree
    from tasks_app.services import trees

    os.environ["ARBOR_DISPATCH"] = (
        "q2"  # the server and the worker wake the cluster (this process never runs tasks)
    )
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    tasks = tree_tasks(args.tasks)
    for t in tasks:
        t["executor"], t["inputs"] = "sleep", {"seconds": args.seconds}
    tree = trees.tree_create(owner=user, tasks=tasks)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value

    port = free_port()
    server = start_server(port)
    worker = start_worker()
    base = f"http://127.0.0.1:{port}"
    out: dict = {"tasks": args.tasks, "task_seconds": args.seconds, "viewport": "1280x720"}
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            out["browser"] = f"chromium {browser.version}"
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            context.add_init_script(INIT_SCRIPT)
            page = context.new_page()
            page.goto(f"{base}/")  # warm the server and the static files once
            page.goto(f"{base}/trees/{tree.id}/")
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            m = page.evaluate("JSON.parse(JSON.stringify(window.__arborMetrics))")
            longtasks = page.evaluate("window.__longtasks")
            out["first_render_ms"] = round(m["firstRender"])
            out["interactive_ms"] = round(m["interactive"])
            out["blocking_ms"] = round(sum(max(0.0, d - 50) for s, d in longtasks if s < m["interactive"]))
            out["visible_nodes"] = page.evaluate("arborRun.cy.nodes(':visible').length")
            page.wait_for_timeout(500)

            page.evaluate(FRAMES_SCRIPT)
            t_run = time.perf_counter()
            page.click("#act-run")
            clicks, zooms = [], 0
            next_probe = time.perf_counter() + 2
            finished = False
            while time.perf_counter() - t_run < args.timeout:
                state = page.evaluate("document.querySelector('#tree-status .badge')?.dataset.state || ''")
                if state in ("completed", "failed"):
                    finished = True
                    break
                if time.perf_counter() >= next_probe:
                    target = page.evaluate(CLICK_TARGET)
                    if target:
                        t0 = time.perf_counter()
                        page.mouse.click(target["x"], target["y"])
                        try:
                            page.wait_for_selector(f'#detail [data-task="{target["id"]}"]', timeout=10_000)
                            clicks.append((time.perf_counter() - t0) * 1000)
                        except Exception:  # a collapsed group opens instead of a task: not a miss
                            pass
                    if zooms < 3:
                        page.mouse.move(640, 400)
                        page.mouse.wheel(0, -240 if zooms % 2 == 0 else 240)
                        zooms += 1
                    next_probe = time.perf_counter() + 2
                page.wait_for_timeout(100)
            run_seconds = time.perf_counter() - t_run
            frames = page.evaluate("window.__frameRec = false, window.__frames")
            shown = page.evaluate(
                "Array.from(arborRun.state.tasks.values()).filter(t => t.status === 'completed').length"
            )
            browser.close()
        db_tree = Tree.objects.get(id=tree.id)
        frames = frames[1:]  # the first delta spans the setup
        out.update(
            {
                "run_finished_in_view": finished,
                "run_seconds": round(run_seconds, 1),
                "tree_status_in_db": db_tree.status,
                "completed_shown": shown,
                "frames": len(frames),
                "frame_mean_ms": round(statistics.fmean(frames), 1) if frames else None,
                "frame_p50_ms": round(percentile(frames, 50), 1),
                "frame_p95_ms": round(percentile(frames, 95), 1),
                "frame_max_ms": round(max(frames), 1) if frames else None,
                "frames_over_50ms": sum(1 for f in frames if f > 50),
                "fps": round(len(frames) / run_seconds, 1) if run_seconds else None,
                "click_to_detail_ms": [round(c) for c in clicks],
            }
        )
    finally:
        stop(worker)
        stop(server, 10)
        import shutil

        shutil.rmtree(TMP, ignore_errors=True)

    c = out["click_to_detail_ms"]
    print(
        f"\nArbor run view while a {out['tasks']}-task tree runs ({out['task_seconds']} s sleeps, "
        "1 worker process), "
        f"{out['browser']}, 1280x720"
    )
    print(
        f"  first render {out['first_render_ms']} ms, interactive {out['interactive_ms']} ms, "
        f"blocking {out['blocking_ms']} ms, {out['visible_nodes']} nodes drawn"
    )
    print(
        f"  run: {out['run_seconds']} s until the page showed it finished "
        f"({'yes' if out['run_finished_in_view'] else 'NO'}; "
        f"db: {out['tree_status_in_db']}, {out['completed_shown']} completed shown)"
    )
    print(
        f"  frames: {out['frames']} ({out['fps']}/s), mean {out['frame_mean_ms']} ms, p50 "
        f"{out['frame_p50_ms']} ms, "
        f"p95 {out['frame_p95_ms']} ms, max {out['frame_max_ms']} ms, {out['frames_over_50ms']} over 50 ms"
    )
    print(
        f"  click→detail during the run: median {round(statistics.median(c)) if c else '—'} ms, "
        f"max {max(c) if c else '—'} ms ({len(c)} clicks)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
