// Contribute: probes WebGPU (the adapter's description and limits), runs a short speed test, lets the
// person set a memory budget, and starts or stops contributing. While the assigned layers download and load
// a progress bar fills; the shard runs in a Web Worker. Without WebGPU it says so plainly and offers the
// CPU backend (slower, same results). Also the size of this browser's weight cache (OPFS / Cache API, where
// loaded layers are kept so a later contribution fetches only a revalidation) and a button to clear it.

import {
  defaultMemoryBudgetBytes,
  openBrowserCache,
  probeCompute,
  type ComputeProbe,
  type ShardBackend,
} from "@pipemesh/engine";
import { codeOf, messageOf } from "../errors.ts";
import { stageCaps } from "../room/caps.ts";
import { Contributor, type ContributorStatus } from "../room/contributor.ts";
import type { RoomClient } from "../room/room-client.ts";
import { fill, formatBytes, h } from "../ui/dom.ts";
import type { PageContext } from "./page.ts";

const MIB = 1024 * 1024;

interface Probe {
  webgpu: { description: string; limits: Record<string, number> } | null;
  /** Why WebGPU is unavailable. */
  reason: string;
  gpuGflops: number | null;
  cpuGflops: number;
}

export class ContributeView {
  readonly element: HTMLElement;
  readonly #ctx: PageContext;
  readonly #room: RoomClient;
  readonly #onChange: () => void;
  readonly #probeBox = h("div", { class: "probe", "aria-live": "polite" });
  readonly #backendGpu = h("input", {
    type: "radio",
    name: "backend",
    value: "webgpu",
    id: "backend-webgpu",
  });
  readonly #backendCpu = h("input", {
    type: "radio",
    name: "backend",
    value: "cpu",
    id: "backend-cpu",
  });
  readonly #budget = h("input", {
    type: "range",
    min: 16,
    max: 8192,
    step: 16,
    value: 1024,
    id: "memory-budget",
    "data-testid": "memory-budget",
  });
  readonly #budgetText = h("output", { for: "memory-budget", class: "budget-text" });
  readonly #toggle = h(
    "button",
    { type: "button", class: "primary", "data-testid": "contribute", disabled: true },
    "Start contributing",
  );
  readonly #progress = h("progress", {
    max: 1,
    value: 0,
    "data-testid": "load-progress",
    "aria-label": "Layers loaded",
  });
  readonly #status = h(
    "p",
    { class: "contrib-status", "aria-live": "polite", "data-testid": "contribute-status" },
    "Not contributing.",
  );
  readonly #cacheSize = h("span", { "data-testid": "cache-size" }, "…");
  readonly #cacheClear = h(
    "button",
    { type: "button", "data-testid": "cache-clear" },
    "Clear cache",
  );
  readonly #weightCache = openBrowserCache();
  #probe: Probe | null = null;
  #probing = false;
  #contributor: Contributor | null = null;
  #starting = false;
  #destroyed = false;

  constructor(ctx: PageContext, room: RoomClient, onChange: () => void) {
    this.#ctx = ctx;
    this.#room = room;
    this.#onChange = onChange;
    this.#progress.hidden = true;
    this.element = h(
      "section",
      { class: "view contribute", "aria-label": "Contribute" },
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Your device"),
        this.#probeBox,
        h(
          "fieldset",
          { class: "backend" },
          h("legend", {}, "Compute on"),
          h("label", { for: "backend-webgpu" }, this.#backendGpu, " WebGPU"),
          h("label", { for: "backend-cpu" }, this.#backendCpu, " CPU (slower)"),
        ),
        h(
          "div",
          { class: "budget" },
          h("label", { for: "memory-budget" }, "Memory budget"),
          this.#budget,
          this.#budgetText,
        ),
      ),
      h(
        "div",
        { class: "card" },
        h("h2", {}, "Contribute"),
        h(
          "p",
          { class: "muted" },
          "The room gives this tab a range of the model's layers in proportion to its speed, within the ",
          "budget. Keep the tab open while others chat; closing it takes your layers out of the pipeline.",
        ),
        this.#toggle,
        this.#progress,
        this.#status,
        h(
          "p",
          { class: "muted small weight-cache" },
          "Weights kept in this browser: ",
          this.#cacheSize,
          " ",
          this.#cacheClear,
        ),
      ),
    );
    this.#cacheClear.addEventListener("click", () => void this.#clearCache());
    this.#backendGpu.addEventListener("change", () => this.#renderBudget());
    this.#backendCpu.addEventListener("change", () => this.#renderBudget());
    this.#budget.addEventListener("input", () => this.#renderBudget());
    this.#budget.addEventListener("change", () => this.#updateCaps());
    this.#toggle.addEventListener("click", () => {
      if (this.#contributor !== null) this.#stop();
      else void this.#start();
    });
    this.#renderBudget();
    fill(this.#probeBox, h("p", { class: "muted" }, "The device probe runs when this page opens."));
  }

  /** The contribute page is shown: probe WebGPU and measure speed (once). */
  activate(): void {
    void this.#renderCache();
    if (this.#probing) return;
    this.#probing = true;
    void this.#runProbe();
  }

  /** This tab's stage peer id while contributing. */
  get peerId(): string | undefined {
    return this.#contributor?.peerId;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#contributor?.stop();
    this.#contributor = null;
  }

  get #backend(): ShardBackend {
    return this.#backendCpu.checked ? "cpu" : "webgpu";
  }

  async #runProbe(): Promise<void> {
    fill(this.#probeBox, h("p", { class: "muted" }, "Probing WebGPU and measuring speed…"));
    let gpu: ComputeProbe | null = null;
    let reason = "";
    try {
      gpu = await probeCompute({ backend: "webgpu" });
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    const cpu = await probeCompute({ backend: "cpu", budgetMs: 150 });
    if (this.#destroyed) return;
    const fixed = this.#ctx.app.fixedGflops;
    this.#probe = {
      webgpu: gpu === null ? null : gpu.adapter,
      reason,
      gpuGflops: gpu === null ? null : (fixed ?? gpu.matmulGflops),
      cpuGflops: fixed ?? cpu.matmulGflops,
    };
    const budget = defaultMemoryBudgetBytes(gpu ?? cpu);
    this.#budget.max = String(Math.max(8192, Math.ceil(budget / MIB / 16) * 16));
    this.#budget.value = String(Math.max(16, Math.round(budget / MIB / 16) * 16));
    this.#renderProbe();
  }

  #renderProbe(): void {
    const p = this.#probe;
    if (p === null) return;
    const fixed = this.#ctx.app.fixedGflops !== undefined ? " (fixed by ?gflops)" : "";
    if (p.webgpu === null) {
      this.#backendGpu.disabled = true;
      this.#backendCpu.checked = true;
      fill(
        this.#probeBox,
        h(
          "p",
          { class: "warning", "data-testid": "no-webgpu" },
          h("strong", {}, "No WebGPU here. "),
          "This browser did not give pipemesh a WebGPU adapter, so it cannot run layers on the GPU. ",
          "You can still contribute on the CPU backend: it computes the same results, more slowly.",
        ),
        h("p", { class: "muted small" }, p.reason),
        h("p", {}, `CPU speed: ${p.cpuGflops.toFixed(2)} GFLOP/s${fixed}`),
      );
    } else {
      if (!this.#backendCpu.checked) this.#backendGpu.checked = true;
      fill(
        this.#probeBox,
        h(
          "p",
          { "data-testid": "adapter" },
          h("strong", {}, "WebGPU adapter: "),
          p.webgpu.description,
        ),
        h(
          "p",
          {},
          `Speed test: ${(p.gpuGflops ?? 0).toFixed(2)} GFLOP/s on WebGPU, ` +
            `${p.cpuGflops.toFixed(2)} on the CPU${fixed}`,
        ),
        h(
          "details",
          {},
          h("summary", {}, "Adapter limits"),
          h(
            "dl",
            { class: "limits" },
            ...Object.entries(p.webgpu.limits).flatMap(([k, v]) => [
              h("dt", {}, k),
              h("dd", {}, k.endsWith("Size") ? formatBytes(v) : String(v)),
            ]),
          ),
        ),
      );
    }
    this.#toggle.disabled = false;
    this.#renderBudget();
  }

  #renderBudget(): void {
    const bytes = Number(this.#budget.value) * MIB;
    const layerBytes = this.#room.state.model.layerBytes;
    const layers = Math.min(
      this.#room.state.model.layerCount,
      layerBytes > 0 ? Math.floor(bytes / layerBytes) : this.#room.state.model.layerCount,
    );
    const text = `${formatBytes(bytes)}: room for ${layers} of ${this.#room.state.model.layerCount} layers`;
    this.#budgetText.textContent = text;
    this.#budget.setAttribute("aria-valuetext", text);
  }

  #caps(): ReturnType<typeof stageCaps> {
    const p = this.#probe;
    const gpu = this.#backend === "webgpu";
    return stageCaps({
      name: `${this.#room.name}${gpu ? "" : " (cpu)"}`,
      backend: this.#backend,
      adapterDescription: gpu
        ? (p?.webgpu?.description ?? "unknown")
        : "JavaScript reference kernels",
      limits: gpu ? (p?.webgpu?.limits ?? {}) : {},
      memoryBudgetBytes: Number(this.#budget.value) * MIB,
      gflops: (gpu ? p?.gpuGflops : p?.cpuGflops) ?? 1,
    });
  }

  #updateCaps(): void {
    this.#contributor?.setCaps(this.#caps());
  }

  async #start(): Promise<void> {
    if (this.#starting) return;
    this.#starting = true;
    this.#toggle.disabled = true;
    this.#backendGpu.disabled = true;
    this.#backendCpu.disabled = true;
    this.#status.textContent = "Joining the room as a contributor…";
    try {
      this.#contributor = await Contributor.start(this.#room, {
        backend: this.#backend,
        caps: this.#caps(),
        onStatus: (s) => this.#renderStatus(s),
        onError: (e) => this.#ctx.errors.show(e, { key: "contribute" }),
      });
      if (this.#destroyed) {
        this.#contributor.stop();
        return;
      }
      this.#toggle.textContent = "Stop contributing";
      this.#renderStatus(this.#contributor.status);
    } catch (e) {
      this.#ctx.errors.show(e, { key: "contribute" });
      this.#status.textContent = "Not contributing.";
      this.#backendGpu.disabled = this.#probe?.webgpu === null;
      this.#backendCpu.disabled = false;
    } finally {
      this.#starting = false;
      this.#toggle.disabled = false;
      this.#onChange();
    }
  }

  #stop(): void {
    this.#contributor?.stop();
    this.#contributor = null;
    this.#toggle.textContent = "Start contributing";
    this.#backendGpu.disabled = this.#probe?.webgpu === null;
    this.#backendCpu.disabled = false;
    this.#progress.hidden = true;
    this.#status.textContent = "Not contributing.";
    this.#onChange();
  }

  async #renderCache(): Promise<void> {
    const cache = this.#weightCache;
    if (cache === undefined) {
      this.#cacheSize.textContent = "none (no storage in this browser)";
      this.#cacheClear.disabled = true;
      return;
    }
    try {
      this.#cacheSize.textContent = formatBytes(await cache.usage());
    } catch {
      this.#cacheSize.textContent = "unknown";
    }
  }

  async #clearCache(): Promise<void> {
    this.#cacheClear.disabled = true;
    try {
      await this.#weightCache?.clear();
    } catch (e) {
      this.#ctx.errors.show(e, { key: "cache" });
    } finally {
      this.#cacheClear.disabled = false;
      await this.#renderCache();
    }
  }

  #renderStatus(s: ContributorStatus): void {
    this.#status.dataset["phase"] = s.phase;
    const span =
      "span" in s
        ? `layers ${s.span.layerStart}–${s.span.layerEnd}${s.span.head ? " + LM head" : ""}`
        : "";
    switch (s.phase) {
      case "joining":
        this.#status.textContent = "Joining…";
        break;
      case "waiting":
        this.#status.textContent = `Waiting: ${s.reason}`;
        break;
      case "idle":
        this.#status.textContent = `In the room, ${s.reason}.`;
        break;
      case "loading":
        this.#progress.hidden = false;
        this.#progress.value = s.fraction;
        this.#status.textContent = `Loading ${span}: ${Math.round(s.fraction * 100)} %${bytesText(s.bytes)}`;
        break;
      case "ready":
        void this.#renderCache();
        this.#progress.hidden = false;
        this.#progress.value = 1;
        this.#status.textContent = `Loaded ${span}${sourceText(s.source)}; ready for the next chat.`;
        this.#status.dataset["source"] = sourceKind(s.source);
        break;
      case "serving":
        this.#progress.hidden = false;
        this.#progress.value = 1;
        this.#status.textContent = `Serving ${span} in the pipeline${sourceText(s.source)}.`;
        this.#status.dataset["source"] = sourceKind(s.source);
        break;
      case "stopped":
        this.#status.textContent = "Not contributing.";
        break;
      case "error":
        // The tab left the room (a lost signaling connection, a lost GPU device, out of memory): say why,
        // and offer to contribute again, which joins as a new peer with a fresh shard.
        this.#status.textContent = `Left the room (${codeOf(s.error)}): ${messageOf(s.error)}`;
        this.#status.dataset["reason"] = codeOf(s.error);
        this.#contributor = null;
        this.#progress.hidden = true;
        this.#toggle.textContent = "Contribute again";
        this.#backendGpu.disabled = this.#probe?.webgpu === null;
        this.#backendCpu.disabled = false;
        break;
    }
    this.#progress.dataset["fraction"] = String(this.#progress.value);
    this.#onChange();
  }
}

const MB = 1024 * 1024;

/** " from this browser's cache (...)" / " (... downloaded)" for a load through the weight cache. */
function sourceText(s: { cachedBytes: number; downloadedBytes: number } | undefined): string {
  if (s === undefined) return "";
  const mb = (b: number): string => `${(b / MB).toFixed(1)} MB`;
  if (s.downloadedBytes === 0)
    return ` from this browser's cache (${mb(s.cachedBytes)}, nothing downloaded)`;
  if (s.cachedBytes === 0) return ` (${mb(s.downloadedBytes)} downloaded, kept for next time)`;
  return ` (${mb(s.cachedBytes)} from this browser's cache, ${mb(s.downloadedBytes)} downloaded)`;
}

/** data-source of the status line: "cache", "network", "mixed" or "" (no weight cache). */
function sourceKind(s: { cachedBytes: number; downloadedBytes: number } | undefined): string {
  if (s === undefined) return "";
  if (s.downloadedBytes === 0) return "cache";
  return s.cachedBytes === 0 ? "network" : "mixed";
}

/** ", 12.3 of 40.0 MB, 3.1 MB/s, 9 s left" for a load in progress. */
function bytesText(
  b: { doneBytes: number; totalBytes: number; startedMs: number; nowMs: number } | undefined,
): string {
  if (b === undefined || b.totalBytes <= 0) return "";
  const seconds = (b.nowMs - b.startedMs) / 1000;
  const rate = seconds > 0 ? b.doneBytes / seconds : 0;
  const left = rate > 0 ? Math.ceil((b.totalBytes - b.doneBytes) / rate) : undefined;
  return (
    ` (${(b.doneBytes / MB).toFixed(1)} of ${(b.totalBytes / MB).toFixed(1)} MB` +
    `${rate > 0 ? `, ${(rate / MB).toFixed(1)} MB/s` : ""}` +
    `${left === undefined ? "" : `, ${left} s left`})`
  );
}
