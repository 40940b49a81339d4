// bench:draft-engine — draft tokens/s of the EngineDrafter on a real draft model: prompt prefill, a greedy
// chain (one new token per predict, the scheduler's narrow draft), a 3-branch tree, a wide batch, cache
// hits, and the no-cache baseline (every context run from scratch). Prints numbers; asserts nothing.
// Default model: public/models/pipemesh-tiny/draft, else the llama-chat-f32 fixture (tiny, not meaningful).
// Run: node --import @pipemesh/engine/node-register packages/engine/bench/draft-engine.ts
//      [--model DIR] [--backend cpu|webgpu] [--prompt N] [--tokens N] [--json]

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadEngineDrafter } from "../src/draft/load-engine-drafter.ts";
import { loadModelConfig } from "../src/loader/model-files.ts";
import { loadLayerShard } from "../src/model/create-shard.ts";
import type { ShardBackend } from "../src/model/shard-spec.ts";
import { requestDawnGpu } from "../src/node/dawn.ts";
import { openModelDir } from "../src/node/file-source.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const DEFAULT_DRAFT = `${root}public/models/pipemesh-tiny/draft`;
const FALLBACK = `${root}packages/engine/test/fixtures/models/llama-chat-f32`;

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    backend: { type: "string", default: "cpu" },
    prompt: { type: "string", default: "128" },
    tokens: { type: "string", default: "256" },
    json: { type: "boolean", default: false },
  },
});
const model = values.model ?? (existsSync(DEFAULT_DRAFT) ? DEFAULT_DRAFT : FALLBACK);
const backend = values.backend as ShardBackend;
const promptLength = Number(values.prompt);
let tokens = Number(values.tokens);

/** A fixed pseudo-random prompt (the bench measures compute, not text). */
function promptIds(vocab: number): number[] {
  let s = 12345;
  return Array.from({ length: promptLength }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % vocab;
  });
}

async function main(): Promise<void> {
  const config = await loadModelConfig(openModelDir(model));
  // The context grows by about 1.2 tokens per drafted chain token (trees accept 2 per 12 drafted).
  tokens = Math.min(tokens, Math.floor((config.maxPositions - promptLength - 16) / 1.2));
  const device = backend === "webgpu" ? await requestDawnGpu() : undefined;
  const kvCells = promptLength + tokens * 4 + 64;
  const drafter = await loadEngineDrafter({
    draftDir: model,
    targetConfig: config,
    backend,
    kvCells,
    openDir: openModelDir,
    device,
  });
  const results: Record<string, number> = {};
  /** Runs f and records count / seconds (count may be known only afterwards). */
  const rate = async (name: string, f: () => Promise<number>): Promise<void> => {
    const t0 = performance.now();
    const count = await f();
    results[name] = count / ((performance.now() - t0) / 1000);
  };
  try {
    const prompt = promptIds(config.vocabSize);
    await rate("prefill tokens/s", async () => {
      await drafter.accept(Int32Array.from(prompt));
      await drafter.predict([Int32Array.from(prompt)], { topK: 8 });
      return prompt.length;
    });

    // Greedy chain: one new token per call; every 4 drafted tokens the accepted context catches up.
    const ctx = [...prompt];
    await rate("chain draft tokens/s", async () => {
      for (let i = 0; i < tokens; i++) {
        const [p] = await drafter.predict([Int32Array.from(ctx)], { topK: 8 });
        ctx.push(p?.topIds[0] ?? 0);
        if (i % 4 === 3) await drafter.accept(Int32Array.from(ctx));
      }
      return tokens;
    });

    // Trees: 3 branches, 4 levels (one run of 3 new tokens per level); two main-line tokens are accepted.
    let lastTree: Int32Array[] = [];
    await rate("tree draft tokens/s", async () => {
      let drafted = 0;
      for (let t = 0; t < Math.max(1, Math.floor(tokens / 12)); t++) {
        const branches: number[][] = [[0], [1], [2]];
        lastTree = [];
        for (let level = 0; level < 4; level++) {
          const contexts = branches.map((b) => Int32Array.from([...ctx, ...b]));
          const preds = await drafter.predict(contexts, { topK: 8 });
          preds.forEach((p, i) => branches[i]?.push(p.topIds[0] ?? 0));
          drafted += contexts.length;
          lastTree.push(...contexts);
        }
        ctx.push(...(branches[0] ?? []).slice(0, 2));
        await drafter.accept(Int32Array.from(ctx));
      }
      return drafted;
    });

    // Width: 8 contexts, one new token each, in one run.
    await rate("wide batch (8) tokens/s", async () => {
      const wide = Array.from({ length: 8 }, (_, i) => Int32Array.from([...ctx, 100 + i]));
      await drafter.predict(wide, { topK: 8 });
      return wide.length;
    });
    await rate("cache hits contexts/s", async () => {
      const kept = lastTree.filter((c) => c.length > ctx.length && ctx.every((t, i) => c[i] === t));
      for (let r = 0; r < 20; r++) await drafter.predict(kept, { topK: 8 });
      return kept.length * 20;
    });

    // Baseline without a cache: each chain step runs its whole context again.
    const naive = await loadLayerShard(
      {
        model,
        layerStart: 0,
        layerEnd: config.numLayers,
        embeds: true,
        tail: true,
        backend,
        kvCells,
      },
      { openDir: openModelDir, config, device },
    );
    const steps = 8;
    await rate("no-cache chain tokens/s", async () => {
      const c = prompt.slice();
      for (let i = 0; i < steps; i++) {
        await naive.kv({ op: "clear" });
        const r = await naive.run({
          tokens: Int32Array.from(c),
          positions: Int32Array.from(c, (_, j) => j),
          seqIds: c.map(() => [0]),
          outputRows: Int32Array.of(c.length - 1),
        });
        c.push(r.outputs?.[0]?.argmax ?? 0);
      }
      return steps;
    });
    await naive.destroy();
    const stats = drafter.stats();
    if (values.json) {
      console.log(JSON.stringify({ model, backend, promptLength, tokens, results, stats }));
      return;
    }
    console.log(
      `draft model: ${model} (${backend}, ${config.numLayers} layers, hidden ${config.hiddenSize}, ` +
        `vocab ${config.vocabSize}); prompt ${promptLength} tokens, chain of ${tokens}`,
    );
    for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(28)} ${v.toFixed(1)}`);
    console.log(
      `drafter: ${stats.runs} runs, ${stats.newTokens} new tokens, ${stats.cachedPredictions} cached answers, ${stats.cellsUsed} cells in use`,
    );
  } finally {
    await drafter.destroy();
  }
}

await main();
