/*
 * Schedules: the new-schedule form (sentence and next fires as you type), the Schedules page
 * (next fire, last outcome, pause/resume/delete, the runs of a schedule) and the dashboard's
 * "upcoming scheduled runs". DOM wiring only; URLs come from api.js.
 */
import { api } from "./api.js";
import { h, clear, toast, errorMessage, timeEl, debounce, confirmDialog } from "./ui.js";

const config = api.config;

function when(value) {
  return value ? new Date(value).toLocaleString() : "—";
}

function statusChip(status) {
  if (!status) return h("span.muted", "—");
  return h("span.badge", { dataset: { status } }, status);
}

// --- the new-schedule form ---------------------------------------------------------------------

function initForm() {
  const form = document.getElementById("schedule-form");
  const $ = (id) => document.getElementById(id);
  const tz = $("s-timezone");
  try {
    tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (e) {
    tz.value = "UTC";
  }
  let controller = null;
  const refresh = debounce(async () => {
    if (controller) controller.abort();
    controller = new AbortController();
    const body = {
      kind: $("s-kind").value,
      expression: $("s-expression").value,
      timezone: tz.value,
      count: 5,
    };
    try {
      const out = await api.schedulePreview(body, { signal: controller.signal });
      $("s-sentence").textContent = out.description;
      $("s-error").hidden = true;
      $("s-expression").removeAttribute("aria-invalid");
      clear($("s-next"));
      for (const t of out.next) $("s-next").appendChild(h("li", h("time", { datetime: t }, when(t))));
      if (!out.next.length) $("s-next").appendChild(h("li.muted", "no future fire"));
    } catch (err) {
      if (err.name === "AbortError") return;
      $("s-sentence").textContent = "—";
      $("s-error").textContent = errorMessage(err);
      $("s-error").hidden = false;
      $("s-expression").setAttribute("aria-invalid", "true");
      clear($("s-next"));
    }
  }, 200);
  for (const id of ["s-kind", "s-expression", "s-timezone"]) {
    $(id).addEventListener("input", refresh);
    $(id).addEventListener("change", refresh);
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      tree: config.tree,
      kind: $("s-kind").value,
      expression: $("s-expression").value,
      timezone: tz.value,
      overlap: $("s-overlap").value,
      catch_up: $("s-catch-up").value,
    };
    if ($("s-max-runs").value) body.max_runs = Number($("s-max-runs").value);
    $("s-save").disabled = true;
    try {
      const created = await api.scheduleCreate(body);
      window.location.href = api.pages.schedules(created.id);
    } catch (err) {
      toast(errorMessage(err), "error");
      $("s-save").disabled = false;
    }
  });
  refresh();
}

// --- the Schedules page ------------------------------------------------------------------------

async function loadList() {
  const tbody = document.querySelector("#schedules tbody");
  let rows;
  try {
    rows = api.results(await api.schedules({ limit: 500 }));
  } catch (err) {
    clear(tbody).appendChild(h("tr", h("td", { colspan: 7 }, errorMessage(err))));
    return;
  }
  clear(tbody);
  if (!rows.length) {
    tbody.appendChild(
      h("tr", h("td.muted", { colspan: 7 }, "No schedules yet: open a tree and press ⏰ Schedule.")),
    );
  }
  for (const s of rows) {
    const actions = h("td.nowrap");
    if (s.state === "active")
      actions.appendChild(h("button.btn.small", { dataset: { act: "pause", id: s.id } }, "Pause"));
    if (s.state === "paused")
      actions.appendChild(h("button.btn.small", { dataset: { act: "resume", id: s.id } }, "Resume"));
    actions.appendChild(
      h("button.btn.small", { dataset: { act: "runs", id: s.id, title: s.tree_name } }, "Runs"),
    );
    actions.appendChild(
      h(
        "button.btn.small",
        { type: "button", dataset: { notifySchedule: s.id, title: s.tree_name }, "aria-haspopup": "dialog" },
        "Notify",
      ),
    );
    actions.appendChild(h("button.btn.small.danger", { dataset: { act: "delete", id: s.id } }, "Delete"));
    tbody.appendChild(
      h(
        "tr",
        { dataset: { schedule: s.id } },
        h("td", h("a", { href: api.pages.run(s.tree) }, s.tree_name)),
        h("td", h("div", s.description), h("code.small.muted", `${s.kind} ${s.expression}`)),
        h("td", h("span.badge", { dataset: { state: s.state } }, s.state)),
        h("td", s.next_run_at ? timeEl(s.next_run_at) : h("span.muted", "—")),
        h("td", s.last_fire ? statusChip(s.last_fire.status) : h("span.muted", "never fired")),
        h("td", String(s.run_count) + (s.max_runs ? ` / ${s.max_runs}` : "")),
        actions,
      ),
    );
  }
  if (config.focus) showRuns(config.focus, (rows.find((r) => r.id === config.focus) || {}).tree_name || "");
}

async function showRuns(id, title) {
  const box = document.getElementById("fires");
  box.hidden = false;
  box.dataset.schedule = id;
  box.querySelector("[data-role=title]").textContent = title;
  const tbody = box.querySelector("tbody");
  let fires;
  try {
    fires = api.results(await api.scheduleRuns(id, { limit: 100 }));
  } catch (err) {
    clear(tbody).appendChild(h("tr", h("td", { colspan: 6 }, errorMessage(err))));
    return;
  }
  clear(tbody);
  if (!fires.length) tbody.appendChild(h("tr", h("td.muted", { colspan: 6 }, "No fire yet.")));
  for (const f of fires) {
    tbody.appendChild(
      h(
        "tr",
        { dataset: { fire: f.id, status: f.status } },
        h("td", when(f.scheduled_for)),
        h("td", statusChip(f.status)),
        h("td", f.run_url ? h("a", { href: f.run_url }, `run ${f.run_number}`) : h("span.muted", "—")),
        h("td", when(f.started_at)),
        h("td", f.duration == null ? "—" : `${f.duration.toFixed(1)} s`),
        h("td.small.muted", f.reason + (f.missed ? ` (${f.missed} missed)` : "")),
      ),
    );
  }
}

function initList() {
  document.getElementById("schedules").addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-act]");
    if (!btn) return;
    const { act, id } = btn.dataset;
    try {
      if (act === "runs") return showRuns(id, btn.dataset.title);
      if (act === "delete") {
        const ok = await confirmDialog({
          title: "Delete this schedule?",
          body: "Its fire history goes too; the tree stays.",
          confirm: "Delete",
          danger: true,
        });
        if (!ok) return;
        await api.scheduleDelete(id);
      } else {
        await api.scheduleAction(id, act);
      }
      toast(`Schedule ${act === "delete" ? "deleted" : act === "pause" ? "paused" : "resumed"}`);
      await loadList();
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  });
  loadList();
  setInterval(() => {
    loadList();
    const box = document.getElementById("fires");
    if (!box.hidden) showRuns(box.dataset.schedule, box.querySelector("[data-role=title]").textContent);
  }, 5000);
}

// --- the dashboard's upcoming fires ------------------------------------------------------------

async function initUpcoming() {
  const list = document.querySelector("#upcoming-fires [data-role=list]");
  if (!list) return;
  try {
    const rows = api.results(await api.schedules({ state: "active", limit: 5 }));
    clear(list);
    if (!rows.length) list.appendChild(h("li.muted", "Nothing scheduled."));
    for (const s of rows) {
      list.appendChild(
        h(
          "li",
          timeEl(s.next_run_at),
          " · ",
          h("a", { href: api.pages.run(s.tree) }, s.tree_name),
          " · ",
          h("span.muted.small", s.description),
        ),
      );
    }
  } catch (err) {
    clear(list).appendChild(h("li.muted", errorMessage(err)));
  }
}

if (config.page === "schedule_new") initForm();
else if (config.page === "schedules") initList();
else if (config.page === "dashboard") initUpcoming();
