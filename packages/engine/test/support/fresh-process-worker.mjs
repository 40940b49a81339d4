// Child process of fresh-process-worker.parity.test.ts: a brand-new Node process whose main thread never
// opens WebGPU creates, through the public API, a WebGPU shard in a worker_thread (createNodeShardClient)
// and decodes greedily, or (mode "drafter") a WebGPU engine drafter in its worker (createNodeDrafterClient)
// and asks for one prediction. Prints one JSON line: backend, adapter, greedy tokens, and EGL_PLATFORM
// before and after the spawn (the spawn must prepare Dawn's environment). Usage: node
// fresh-process-worker.mjs shard|drafter MODEL_DIR NUM_LAYERS PROMPT_JSON STEPS. Test-only.
import "@pipemesh/engine/node-register";

const [mode, modelDir, numLayers, promptJson, steps] = process.argv.slice(2);
const prompt = JSON.parse(promptJson);
const { createNodeShardClient, createNodeDrafterClient } = await import("@pipemesh/engine/node");

const eglBefore = process.env.EGL_PLATFORM ?? null;
if (mode === "drafter") {
  const drafter = await createNodeDrafterClient({
    draftDir: modelDir,
    kind: "engine",
    engine: { backend: "webgpu", kvCells: 64 },
  });
  const eglAfter = process.env.EGL_PLATFORM ?? null;
  const [p] = await drafter.predict([Int32Array.from(prompt)], { topK: 1 });
  console.log(
    JSON.stringify({
      backend: drafter.info.executionProvider,
      adapter: drafter.info.executionProvider,
      greedy: [p.topIds[0]],
      eglBefore,
      eglAfter,
    }),
  );
  await drafter.destroy();
  process.exit(0);
}
const shard = await createNodeShardClient({
  model: modelDir,
  layerStart: 0,
  layerEnd: Number(numLayers),
  embeds: true,
  tail: true,
  backend: "webgpu",
  kvCells: 64,
});
const eglAfter = process.env.EGL_PLATFORM ?? null;

const one = (tokens, start, seqIds = tokens.map(() => [0])) =>
  shard.run({
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqIds,
    outputRows: Int32Array.of(tokens.length - 1),
  });
const greedy = [];
let next = (await one(prompt, 0)).outputs[0].argmax;
for (let i = 0; i < Number(steps); i++) {
  greedy.push(next);
  if (i === Number(steps) - 1) break;
  next = (await one([next], prompt.length + i)).outputs[0].argmax;
}
console.log(
  JSON.stringify({
    backend: shard.info.backend,
    adapter: shard.info.adapter,
    greedy,
    eglBefore,
    eglAfter,
  }),
);
await shard.destroy();
