// Child process of fresh-process-worker.parity.test.ts: a brand-new Node process whose main thread never
// opens WebGPU creates a WebGPU shard in a worker_thread through the public API (createNodeShardClient)
// and decodes greedily. Prints one JSON line: backend, adapter, greedy tokens, and EGL_PLATFORM before
// and after the spawn (the spawn must prepare Dawn's environment). Usage: node fresh-process-worker.mjs
// MODEL_DIR NUM_LAYERS PROMPT_JSON STEPS. Test-only.
import "@pipemesh/engine/node-register";

const [modelDir, numLayers, promptJson, steps] = process.argv.slice(2);
const prompt = JSON.parse(promptJson);
const { createNodeShardClient } = await import("@pipemesh/engine/node");

const eglBefore = process.env.EGL_PLATFORM ?? null;
const shard = await createNodeShardClient({
  model: modelDir,
  layerStart: 0,
  layerEnd: Number(numLayers),
  embeds: true,
  head: true,
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
