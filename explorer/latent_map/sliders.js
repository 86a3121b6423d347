// The latent sliders: one group per set of models that share a latent dimension (one point, decoded by
// each), one range input per coordinate. Dragging redraws here; the release sends the point, once, so
// the rest of the page can use it.

import { el } from "./dom.js";
import { fmt } from "./format.js";

export const SLIDER_STEPS = 200; // steps across a slider's range

/** A range input's attributes for the range [lo, hi] at `value`, as strings: SLIDER_STEPS steps across. */
export function rangeAttributes(lo, hi, value) {
  return { min: String(lo), max: String(hi), step: String((hi - lo) / SLIDER_STEPS), value: String(value) };
}

/** Whether two points are one: the same length, each coordinate within 1e-6 (the sliders keep float32). */
export function samePoint(a, b) {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 1e-6);
}

/** What a group's point `z` from the server means, given `sent` (the points sent and not yet seen back,
 * oldest first; updated here) and `values` (the sliders' point now):
 * "echo": a point sent from here, back with the rerun it caused, while keys pressed meanwhile may have
 * moved the sliders on (it and the older ones leave `sent`); "news": another view set it, the sliders
 * take it (`sent` is emptied); "same": the sliders are there already. */
export function serverPoint(sent, values, z) {
  const echo = sent.findIndex((point) => samePoint(point, z));
  if (echo >= 0) {
    sent.splice(0, echo + 1);
    return "echo";
  }
  if (!samePoint(z, values)) {
    sent.length = 0;
    return "news";
  }
  return "same";
}

export class Sliders {
  /** The sliders go in `box`. `mark(event)` starts a frame's clock; `onInput(t0)` after a slider moved,
   * `onRelease()` when one is let go. */
  constructor(box, { mark, onInput, onRelease }) {
    this.box = box;
    this.mark = mark;
    this.onInput = onInput;
    this.onRelease = onRelease;
    this.groups = new Map(); // group id -> {values: Float32Array, inputs, labels, sides, sent}
    this.signature = null;
  }

  /** The page's slider groups: built anew when their ranges change, else the server's points taken
   * where they are news. */
  update(data) {
    const signature = JSON.stringify(data.sliders.map((g) => [g.id, g.ranges]));
    if (this.signature !== signature) {
      this.signature = signature;
      this.build(data.sliders);
      return;
    }
    for (const group of data.sliders) {
      const mine = this.groups.get(group.id);
      if (!mine || serverPoint(mine.sent, mine.values, group.z) !== "news") continue;
      group.z.forEach((v, i) => {
        mine.values[i] = v;
        mine.inputs[i].value = String(v);
        mine.labels[i].textContent = fmt(v);
      });
    }
  }

  build(groups) {
    this.box.textContent = "";
    this.groups.clear();
    for (const group of groups) {
      const box = el("div", "vlm-slider-group", this.box);
      el("div", "vlm-slider-title", box, group.title);
      const grid = el("div", "vlm-slider-grid", box);
      const values = Float32Array.from(group.z);
      const inputs = [], labels = [];
      group.ranges.forEach(([lo, hi], i) => {
        const cell = el("label", "vlm-slider", grid);
        el("span", "vlm-slider-name", cell, `z${i + 1}`);
        const input = el("input", "", cell);
        input.type = "range";
        const range = rangeAttributes(lo, hi, values[i]);
        input.min = range.min;
        input.max = range.max;
        input.step = range.step;
        input.value = range.value; // after the range, which would clamp it
        input.setAttribute("aria-label", `${group.prefix}z${i + 1}`);
        const label = el("span", "vlm-slider-value", cell, fmt(values[i]));
        input.addEventListener("input", (e) => {
          const t0 = this.mark(e);
          values[i] = parseFloat(input.value);
          label.textContent = fmt(values[i]);
          this.onInput(t0);
        });
        input.addEventListener("change", () => this.onRelease());
        inputs.push(input);
        labels.push(label);
      });
      this.groups.set(group.id, { values, inputs, labels, sides: group.sides, sent: [] });
    }
  }

  /** The sliders' point for a model (its group's values, live), or null. */
  point(side) {
    for (const group of this.groups.values()) if (group.sides.includes(side)) return group.values;
    return null;
  }

  /** Every model's point, to send; each group remembers it until the server sends it back. */
  release() {
    const out = {};
    for (const group of this.groups.values()) {
      group.sent.push(Array.from(group.values)); // until the server sends it back
      for (const side of group.sides) out[side] = Array.from(group.values);
    }
    return out;
  }
}
