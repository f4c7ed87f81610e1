/*
 * Small form helpers of the triggers & notifications dialogs: a copy button and the API's 4xx
 * message shown next to the field it names (aria-invalid + aria-describedby).
 */
import { h, toast, errorMessage } from "../ui.js";

/** A "Copy" button writing getText() to the clipboard (select-and-copy fallback). */
function copyButton(getText, what) {
  return h(
    "button.btn.small",
    {
      type: "button",
      "aria-label": `Copy the ${what}`,
      on: {
        click: async (ev) => {
          const text = getText();
          try {
            await navigator.clipboard.writeText(text);
            toast(`Copied the ${what}`);
          } catch (e) {
            const box = ev.currentTarget.parentElement.querySelector("input, pre");
            if (box && box.select) box.select();
            toast("Select the text and press Ctrl+C to copy", "error");
          }
        },
      },
    },
    "Copy",
  );
}

/** An empty, hidden error line; `id` lets fields point at it with aria-describedby. */
function fieldError(id) {
  return h("p.error.small.hooks-error", { id, role: "alert", hidden: true });
}

/** Show err's message in `el` and mark `inputs` invalid; err null clears. */
function showFieldError(el, err, inputs) {
  for (const input of document.querySelectorAll(`[aria-describedby~="${el.id}"]`)) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  if (!err) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  // next to a field, the API's message alone (it names the field); elsewhere with its details
  el.textContent = inputs && inputs.length && err.message ? err.message : errorMessage(err);
  el.hidden = false;
  for (const input of inputs || []) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", el.id);
  }
  if (inputs && inputs[0]) inputs[0].focus();
}

export { copyButton, fieldError, showFieldError };
