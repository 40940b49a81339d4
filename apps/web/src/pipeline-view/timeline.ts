// The pipeline picture: one lane per stage (the head's embeddings first, then the peers in plan order) on a
// shared time axis, with each run's compute drawn where it happened: prefill and canonical runs, speculative
// runs, and cancelled runs in their own colours; the gaps are idle time. Canvas, redrawn on the next frame
// after a change and while runs are in flight; a text line under it repeats the numbers for screen readers.

import { h } from "../ui/dom.ts";
import { boxKind, busyFraction, runBoxes, type BoxKind, type StageBox } from "./layout.ts";
import type { RunLog } from "./run-log.ts";

const COLORS: Record<BoxKind, string> = {
  prefill: "#3a5a9a",
  canonical: "#4f7fe0",
  speculative: "#2fa86b",
  cancelled: "#d2553f",
};

const LABELS: Record<BoxKind, string> = {
  prefill: "prefill",
  canonical: "canonical run",
  speculative: "speculative run",
  cancelled: "cancelled run",
};

const LANE_PX = 26;
const GAP_PX = 6;
const LABEL_PX = 118;
const AXIS_PX = 18;
/** The view shows at most this much of the latest reply. */
const MAX_WINDOW_MS = 30_000;

export class PipelineTimeline {
  readonly element: HTMLElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #summary: HTMLElement;
  readonly #log: RunLog;
  readonly #off: () => void;
  readonly #resize: ResizeObserver | null;
  #frame = 0;
  #destroyed = false;

  constructor(log: RunLog) {
    this.#log = log;
    this.#canvas = h("canvas", {
      class: "timeline-canvas",
      role: "img",
      "aria-label": "Pipeline timeline: runs per stage over time",
    });
    const legend = h(
      "ul",
      { class: "legend" },
      ...(Object.keys(COLORS) as BoxKind[]).map((k) =>
        h("li", {}, h("span", { class: "swatch", style: `background:${COLORS[k]}` }), LABELS[k]),
      ),
      h("li", {}, h("span", { class: "swatch idle" }), "idle"),
    );
    this.#summary = h("p", { class: "timeline-summary", "aria-live": "off" });
    this.element = h(
      "section",
      { class: "pipeline-view", "data-testid": "pipeline-view", "aria-label": "Pipeline picture" },
      h("h3", {}, "Pipeline"),
      this.#canvas,
      legend,
      this.#summary,
    );
    this.#off = log.onChange(() => this.#schedule());
    this.#resize =
      typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => this.#schedule());
    this.#resize?.observe(this.element);
    this.#schedule();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#off();
    this.#resize?.disconnect();
    cancelAnimationFrame(this.#frame);
  }

  #schedule(): void {
    if (this.#destroyed || this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      const inFlight = this.#draw();
      if (inFlight) this.#schedule();
    });
  }

  /** Draws the latest reply's window; true while runs are still in flight (keep animating). */
  #draw(): boolean {
    const log = this.#log;
    const stages = log.stages;
    const now = log.now();
    const runs = log.runs.filter(
      (r) => log.replyStartMs === null || r.launchMs >= log.replyStartMs,
    );
    const inFlight = runs.some((r) => r.outcome === null);
    const boxes: StageBox[] = runs.flatMap(runBoxes);
    const ends = runs.map((r) => r.outcome?.atMs ?? now);
    const t1 = inFlight ? now : Math.max(log.replyStartMs ?? now, ...ends);
    const t0 = Math.max(log.replyStartMs ?? t1 - 1000, t1 - MAX_WINDOW_MS);
    const lanes = Math.max(1, stages.length);
    const canvas = this.#canvas;
    const cssWidth = Math.max(200, this.element.clientWidth || 600);
    // Narrow screens put each lane's label above it instead of beside it.
    const narrow = cssWidth < 480;
    const labelPx = narrow ? 0 : LABEL_PX;
    const labelAbovePx = narrow ? 14 : 0;
    const laneStep = LANE_PX + GAP_PX + labelAbovePx;
    const laneTop = (i: number): number => AXIS_PX + i * laneStep + labelAbovePx;
    const cssHeight = AXIS_PX + lanes * laneStep;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${cssWidth}px`;
    canvas.style.height = `${cssHeight}px`;
    canvas.width = Math.round(cssWidth * dpr);
    canvas.height = Math.round(cssHeight * dpr);
    const g = canvas.getContext("2d");
    if (g === null) return inFlight;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssWidth, cssHeight);
    const plotW = cssWidth - labelPx - 4;
    const span = Math.max(1, t1 - t0);
    const x = (t: number): number => labelPx + ((t - t0) / span) * plotW;
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    const busy: number[] = [];
    for (let i = 0; i < lanes; i++) {
      const y = laneTop(i);
      g.fillStyle = "#eef0f4";
      g.fillRect(labelPx, y, plotW, LANE_PX);
      g.fillStyle = "#222";
      const label = stages[i] ?? `stage ${i}`;
      if (narrow) g.fillText(truncate(label, 48), 2, y - labelAbovePx / 2);
      else g.fillText(truncate(label, 18), 2, y + LANE_PX / 2);
      busy.push(busyFraction(boxes, i, t0, t1));
    }
    for (const b of boxes) {
      if (b.endMs < t0 || b.stage >= lanes) continue;
      const y = laneTop(b.stage);
      const bx = x(Math.max(t0, b.startMs));
      const bw = Math.max(1.5, x(b.endMs) - bx);
      g.fillStyle = COLORS[b.kind];
      g.fillRect(bx, y + 3, bw, LANE_PX - 6);
    }
    // Time axis: seconds since the reply started.
    g.fillStyle = "#555";
    g.fillText("0 s", labelPx + 2, 8);
    const end = `${(span / 1000).toFixed(1)} s`;
    g.fillText(end, cssWidth - g.measureText(end).width - 4, 8);
    const counts = { prefill: 0, canonical: 0, speculative: 0, cancelled: 0 };
    for (const r of runs) counts[boxKind(r)]++;
    this.#canvas.hidden = stages.length === 0;
    this.#summary.textContent =
      stages.length === 0
        ? "The pipeline's stages appear here once this tab has the pipeline for a reply."
        : `${runs.length} runs: ${counts.prefill} prefill, ${counts.canonical} canonical, ` +
          `${counts.speculative} speculative, ${counts.cancelled} cancelled. Busy: ` +
          stages.map((s, i) => `${s} ${Math.round((busy[i] ?? 0) * 100)} %`).join(", ");
    this.element.dataset["runs"] = String(runs.length);
    this.element.dataset["cancelled"] = String(counts.cancelled);
    this.element.dataset["speculative"] = String(counts.speculative);
    return inFlight;
  }
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
