// The toy model and its KV cache are the oracle for every scheduler test, so they are tested first: KV
// semantics of docs/architecture.md, staged == KV-free reference for every split, and KV mistakes
// changing the output (so a scheduler bug cannot hide).
import { describe, expect, it } from "vitest";
import type { StageBatch } from "../../../src/ports.ts";
import { ToyKvCache } from "../../support/toy-kv-cache.ts";
import { createToyStages, ToyModel, ToyReference, type ToyStage } from "../../support/toy-model.ts";

function batch(
  tokens: number[],
  positions: number[],
  seqIds: number[][],
  out = [tokens.length - 1],
): StageBatch {
  return {
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(positions),
    seqIds,
    outputRows: Int32Array.from(out),
  };
}

/** Runs a batch through consecutive stages synchronously; returns the tail's argmax per output row. */
function runAll(stages: ToyStage[], b: StageBatch): number[] {
  let cur = b;
  for (const s of stages) {
    const run = s.begin(cur);
    while (run.done < run.layers) run.step();
    const res = run.finish();
    if (res.outputs) return res.outputs.map((o) => o.argmax);
    cur = { ...cur, tokens: undefined, hidden: res.hidden };
  }
  throw new Error("no tail");
}

describe("ToyKvCache semantics", () => {
  it("a row sees canonical cells and cells sharing one of its ids, at positions <= its own", () => {
    const kv = new ToyKvCache({ capacity: 16, maxSeqs: 8, layers: 1 });
    kv.claim(Int32Array.from([0, 1]), [[0], [0]]);
    kv.claim(Int32Array.from([2]), [[3]]);
    kv.claim(Int32Array.from([2, 3]), [[4], [4]]);
    expect(kv.visible(2, [3]).map((c) => [c.pos, c.seqs])).toEqual([
      [0, [0]],
      [1, [0]],
      [2, [3]],
    ]);
    expect(kv.visible(3, [4]).map((c) => c.pos)).toEqual([0, 1, 2, 3]);
    expect(kv.visible(1, [4]).map((c) => c.pos)).toEqual([0, 1]);
    expect(kv.visible(5, [5]).map((c) => c.pos)).toEqual([0, 1]);
  });

  it("among visible duplicates at one position only the newest counts", () => {
    const kv = new ToyKvCache({ capacity: 8, maxSeqs: 4, layers: 1 });
    const a = kv.claim(Int32Array.from([0]), [[1]]).cells[0]!;
    const b = kv.claim(Int32Array.from([0]), [[0]]).cells[0]!;
    expect(kv.visible(0, [1]).map((c) => c.cell)).toEqual([b]);
    kv.apply({ op: "seq_rm", seq: 0, p0: 0, p1: -1 });
    expect(kv.visible(0, [1]).map((c) => c.cell)).toEqual([a]);
  });

  it("a batch row sees earlier rows of its own batch, not later ones", () => {
    const kv = new ToyKvCache({ capacity: 8, maxSeqs: 4, layers: 1 });
    const { gather, cells } = kv.claim(Int32Array.from([5, 5]), [[1], [1]]);
    expect(gather[0]).toEqual([cells[0]]);
    expect(gather[1]).toEqual([cells[1]]); // same position: the newer (own) cell wins
  });

  it("seq_rm / seq_cp / seq_keep / clear re-tag and free cells", () => {
    const kv = new ToyKvCache({ capacity: 8, maxSeqs: 8, layers: 1 });
    kv.claim(Int32Array.from([0, 1, 2, 3]), [[1], [1, 2], [2], [1]]);
    kv.apply({ op: "seq_cp", src: 1, dst: 0, p0: 1, p1: 3 });
    expect(kv.entries().map((e) => e.seqs)).toEqual([[1], [0, 1, 2], [2], [1]]);
    kv.apply({ op: "seq_rm", seq: 1, p0: 0, p1: -1 });
    expect(kv.entries().map((e) => [e.pos, e.seqs])).toEqual([
      [1, [0, 2]],
      [2, [2]],
    ]);
    kv.apply({ op: "seq_keep", seq: 2 });
    expect(kv.entries().map((e) => [e.pos, e.seqs])).toEqual([
      [1, [2]],
      [2, [2]],
    ]);
    kv.apply({ op: "seq_rm", seq: -1, p0: 2, p1: -1 });
    expect(kv.used()).toBe(1);
    kv.apply({ op: "clear" });
    expect(kv.used()).toBe(0);
  });

  it("running out of cells is ERR_KV_FULL before anything is claimed; bad ids are ERR_KV_SEQ", () => {
    const kv = new ToyKvCache({ capacity: 2, maxSeqs: 4, layers: 1 });
    kv.claim(Int32Array.from([0]), [[0]]);
    expect(() => kv.claim(Int32Array.from([1, 2]), [[0], [0]])).toThrow(/ERR_KV_FULL/);
    expect(kv.used()).toBe(1);
    expect(() => kv.claim(Int32Array.from([1]), [[9]])).toThrow(/ERR_KV_SEQ/);
  });
});

describe("ToyModel stages", () => {
  const model = new ToyModel({ layers: 6 });
  const ctx = [3, 1, 4, 1, 5, 9, 2, 6];

  it("every split into 1..4 stages matches the KV-free reference, token by token", () => {
    const ref = new ToyReference(model);
    for (const split of [[6], [3, 3], [1, 2, 3], [2, 1, 1, 2]]) {
      const stages = createToyStages(model, { split });
      const prompt = runAll(
        stages,
        batch(
          ctx,
          ctx.map((_, i) => i),
          ctx.map(() => [0]),
        ),
      )[0]!;
      const expected = ref.logitsAfter(ctx);
      expect(prompt).toBe(expected.indexOf(Math.max(...expected)));
      // then one canonical row at a time
      const seq = [...ctx, prompt];
      for (let p = ctx.length; p < ctx.length + 5; p++) {
        const next = runAll(stages, batch([seq[p]!], [p], [[0]]))[0]!;
        const l = ref.logitsAfter(seq.slice(0, p + 1));
        expect(next).toBe(l.indexOf(Math.max(...l)));
        seq.push(next);
      }
    }
  });

  it("a tree batch evaluates each branch as its own path", () => {
    const stages = createToyStages(model, { stages: 2 });
    runAll(
      stages,
      batch(
        ctx,
        ctx.map((_, i) => i),
        ctx.map(() => [0]),
      ),
    );
    const n = ctx.length;
    // rows: a@n (branches 1,2), b@n+1 (branch 1), c@n+1 (branch 2)
    const out = runAll(stages, batch([7, 8, 9], [n, n + 1, n + 1], [[1, 2], [1], [2]], [0, 1, 2]));
    const ref = new ToyReference(model);
    const argmax = (l: Float32Array): number => l.indexOf(Math.max(...l));
    expect(out).toEqual([
      argmax(ref.logitsAfter([...ctx, 7])),
      argmax(ref.logitsAfter([...ctx, 7, 8])),
      argmax(ref.logitsAfter([...ctx, 7, 9])),
    ]);
  });

  it("KV mistakes change the outputs (a missing or foreign cell is visible to the toy)", () => {
    const argmaxAfter = (mutate: (s: ToyStage[]) => void): number[] => {
      const stages = createToyStages(model, { stages: 2 });
      runAll(
        stages,
        batch(
          ctx,
          ctx.map((_, i) => i),
          ctx.map(() => [0]),
        ),
      );
      mutate(stages);
      const outs: number[] = [];
      for (let t = 0; t < 8; t++) outs.push(runAll(stages, batch([t], [ctx.length], [[5]]))[0]!);
      return outs;
    };
    const good = argmaxAfter(() => {});
    const missing = argmaxAfter((s) =>
      s.forEach((st) => st.cache.apply({ op: "seq_rm", seq: 0, p0: 3, p1: 4 })),
    );
    expect(missing).not.toEqual(good);
  });

  it("an aborted run frees exactly the cells it claimed", async () => {
    const [stage] = createToyStages(model, { stages: 1 });
    await stage!.run(
      batch(
        ctx,
        ctx.map((_, i) => i),
        ctx.map(() => [0]),
      ),
    );
    const before = stage!.cache.entries();
    const ac = new AbortController();
    const p = stage!.run(batch([1, 2, 3], [8, 9, 10], [[1], [1], [1]]), ac.signal);
    ac.abort();
    await expect(p).rejects.toThrow(/ERR_ABORTED/);
    expect(stage!.cache.entries()).toEqual(before);
    expect(stage!.runsAborted).toBe(1);
  });
});
