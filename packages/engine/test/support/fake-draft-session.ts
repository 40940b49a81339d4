// An exact stand-in for an ONNX draft session (DraftSession): every K/V value and logit is a small integer
// (exact in float32) computed from the whole token path, so a drafter that feeds a wrong past (another
// branch's K/V, a stale or truncated slice, rows mixed up in a batch) gets different logits, and a correct
// one gets logits bit-identical to a from-scratch run. Each run yields to the event loop first, so aborts
// can land between runs. Test-only.

import type {
  DraftRunInput,
  DraftRunOutput,
  DraftSession,
  DraftSessionInfo,
} from "../../src/draft/ort-session.ts";

const MOD = 1 << 22;

function mix(h: number, token: number, pos: number): number {
  let x = (h * 2654435761 + token * 40503 + pos * 977 + 12345) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 2246822519) >>> 0;
  x ^= x >>> 13;
  return x % MOD;
}

export interface FakeSessionOptions {
  layers?: number;
  kvHeads?: number;
  headDim?: number;
  vocabSize?: number;
}

export class FakeDraftSession implements DraftSession {
  readonly info: DraftSessionInfo;
  runs = 0;
  /** Rows run so far (a batched run counts its rows). */
  rows = 0;
  /** Tokens run so far (rows x new tokens). */
  tokens = 0;
  released = false;
  /** When set, the next run rejects with this error (once). */
  failNext: Error | undefined;

  constructor(options: FakeSessionOptions = {}) {
    this.info = {
      layers: options.layers ?? 2,
      kvHeads: options.kvHeads ?? 2,
      headDim: options.headDim ?? 3,
      vocabSize: options.vocabSize ?? 50,
      executionProvider: "fake",
    };
  }

  async run(input: DraftRunInput): Promise<DraftRunOutput> {
    await new Promise((r) => setImmediate(r));
    if (this.released) throw new Error("released");
    const failure = this.failNext;
    if (failure !== undefined) {
      this.failNext = undefined;
      throw failure;
    }
    this.runs++;
    this.rows += input.rows;
    this.tokens += input.rows * input.steps;
    const { layers, kvHeads, headDim, vocabSize } = this.info;
    const { rows, steps, pastLength, tokens, past } = input;
    const total = pastLength + steps;
    const rowSize = kvHeads * total * headDim;
    const pastRow = kvHeads * pastLength * headDim;
    const present = Array.from({ length: 2 * layers }, () => new Float32Array(rows * rowSize));
    const logits = new Float32Array(rows * steps * vocabSize);
    for (let r = 0; r < rows; r++) {
      // Copy the past in ([kvHeads, pastLength, headDim] -> [kvHeads, total, headDim]).
      for (let i = 0; i < 2 * layers; i++) {
        const src = past[i];
        const dst = present[i];
        if (src === undefined || dst === undefined) throw new Error("missing past tensor");
        if (src.length !== rows * pastRow) throw new Error(`past ${i} has ${src.length} values`);
        for (let h = 0; h < kvHeads; h++) {
          const from = r * pastRow + h * pastLength * headDim;
          dst.set(
            src.subarray(from, from + pastLength * headDim),
            r * rowSize + h * total * headDim,
          );
        }
      }
      for (let t = 0; t < steps; t++) {
        const pos = pastLength + t;
        const at = (h: number, p: number, d: number): number =>
          r * rowSize + h * total * headDim + p * headDim + d;
        // The path hash of the previous position is the key of layer 0, head 0, dim 0.
        const prev = pos === 0 ? 7 : (present[0]?.[at(0, pos - 1, 0)] ?? 0);
        const hash = mix(prev, tokens[r * steps + t] ?? 0, pos);
        // "Attention": every earlier value of every layer, weighted by position, feeds the logits.
        let acc = hash;
        for (let i = 0; i < 2 * layers; i++) {
          const a = present[i];
          if (a === undefined) continue;
          for (let h = 0; h < kvHeads; h++) {
            for (let p = 0; p < pos; p++) {
              for (let d = 0; d < headDim; d++) {
                acc = (acc + (a[at(h, p, d)] ?? 0) * (p + 1 + i)) % MOD;
              }
            }
          }
        }
        for (let i = 0; i < 2 * layers; i++) {
          const a = present[i];
          if (a === undefined) continue;
          for (let h = 0; h < kvHeads; h++) {
            for (let d = 0; d < headDim; d++) {
              a[at(h, pos, d)] =
                i === 0 && h === 0 && d === 0 ? hash : (hash + i * 31 + h * 7 + d) % MOD;
            }
          }
        }
        const base = (r * steps + t) * vocabSize;
        for (let v = 0; v < vocabSize; v++) {
          logits[base + v] = (mix(acc, v, pos) % 4096) / 256;
        }
      }
    }
    return { logits, present };
  }

  release(): Promise<void> {
    this.released = true;
    return Promise.resolve();
  }
}
