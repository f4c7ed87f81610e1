/*
 * The Schedules page's private calendar link: create / regenerate (the URL is shown once) and
 * revoke. Calendar apps cannot log in, so the link carries a secret; Arbor stores only its hash.
 */
import { api } from "./api.js";
import { toast, errorMessage, confirmDialog } from "./ui.js";

const PATH = "schedules/calendar-link/";

function init() {
  const card = document.getElementById("calendar-link");
  if (!card) return;
  const state = card.querySelector("[data-role=state]");
  const make = card.querySelector("[data-role=make]");
  const revoke = card.querySelector("[data-role=revoke]");
  const shown = card.querySelector("[data-role=shown]");
  const url = card.querySelector("[data-role=url]");
  const copy = card.querySelector("[data-role=copy]");

  function render(info) {
    const exists = Boolean(info && info.exists);
    state.textContent = exists
      ? `Active since ${new Date(info.created_at).toLocaleString()}` +
        (info.last_used_at
          ? ` · last read ${new Date(info.last_used_at).toLocaleString()}`
          : " · not read yet")
      : "No private link.";
    make.textContent = exists ? "Regenerate link" : "Create link";
    revoke.hidden = !exists;
  }

  async function load() {
    try {
      render(await api.get(PATH));
    } catch (err) {
      state.textContent = errorMessage(err);
    }
  }

  make.addEventListener("click", async () => {
    if (!revoke.hidden) {
      const ok = await confirmDialog({
        title: "Regenerate the calendar link?",
        body: "Calendars using the old link stop updating.",
        confirm: "Regenerate",
      });
      if (!ok) return;
    }
    try {
      const out = await api.post(PATH);
      url.value = out.url;
      shown.hidden = false;
      url.select();
      await load();
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  });

  revoke.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: "Revoke the private calendar link?",
      body: "Calendars using it stop updating.",
      confirm: "Revoke",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.del(PATH);
      shown.hidden = true;
      url.value = "";
      toast("Calendar link revoked");
      await load();
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  });

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url.value);
      toast("Link copied");
    } catch (e) {
      url.select();
    }
  });

  load();
}

init(); // a module runs after the document is parsed
