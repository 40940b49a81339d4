// Draft calibration on the embedded pair: along the target's greedy continuations of a few prompts, how often
// the target's token is the draft's top-1/2/3/4/5, and how often the top-1 is right per top-1 probability
// decile. Shows whether the draft's confidence can gate speculation (p_accept) as the reference assumes.
// Usage: node --import @pipemesh/engine/node-register apps/cli/bench/draft-calibration.ts [--weak]
import {
  loadDrafter,
  loadTargetVocab,
  loadTokenizer,
  loadLayerShard,
  loadModelConfig,
} from "@pipemesh/engine";
import { openModelDir } from "@pipemesh/engine/node";
import { readDefaultPair } from "../src/head/models.ts";
const pair = readDefaultPair();
const dir = openModelDir(pair.target);
const tok = await loadTokenizer(dir);
const config = await loadModelConfig(dir);
const targetVocab = await loadTargetVocab(dir);
const draftDir = process.argv.includes("--weak") ? (pair.draftWeak ?? pair.draft) : pair.draft;
const d = await loadDrafter({
  draftDir,
  kind: "engine",
  targetVocab,
  openDir: openModelDir,
  ort: { executionProvider: "wasm" },
  engine: { backend: "cpu" },
});
const shard = await loadLayerShard(
  {
    model: pair.target,
    layerStart: 0,
    layerEnd: config.numLayers,
    embeds: true,
    head: true,
    backend: "cpu",
    kvCells: 600,
    maxSeqs: 4,
  },
  { openDir: openModelDir, config },
);
const prompts = [
  "Once upon a time",
  "The president said that the nation",
  "And God said unto Moses,",
  "Call me Ishmael. Some years ago",
  "It was the best of times,",
  "In the beginning",
  "Fellow citizens of the Senate",
  "The whale",
];
const hits = [0, 0, 0, 0, 0];
let n = 0;
const probBuckets: Record<string, [number, number]> = {};
for (const p of prompts) {
  await shard.kv({ op: "clear" });
  await d.drafter.reset();
  const ids = Array.from(tok.encode(p));
  let out = await shard.run({
    tokens: Int32Array.from(ids),
    positions: Int32Array.from(ids.map((_, i) => i)),
    seqIds: ids.map(() => [0]),
    outputRows: Int32Array.from([ids.length - 1]),
  });
  for (let s = 0; s < 48; s++) {
    const t = out.outputs![0]!.argmax;
    const [pr] = await d.drafter.predict([Int32Array.from(ids)], { topK: 5 });
    const rank = Array.from(pr!.topIds).indexOf(t);
    for (let r = 0; r < 5; r++) if (rank >= 0 && rank <= r) hits[r]!++;
    const b = Math.min(9, Math.floor(pr!.topProbs[0]! * 10)).toString();
    probBuckets[b] ??= [0, 0];
    probBuckets[b][1]++;
    if (rank === 0) probBuckets[b][0]++;
    n++;
    ids.push(t);
    out = await shard.run({
      tokens: Int32Array.from([t]),
      positions: Int32Array.from([ids.length - 1]),
      seqIds: [[0]],
      outputRows: Int32Array.from([0]),
    });
  }
}
console.log(
  "n",
  n,
  "top-k hit rates",
  hits.map((h) => (h / n).toFixed(3)),
);
console.log("top1 prob bucket -> [correct, total]", JSON.stringify(probBuckets));
await shard.destroy();
await d.drafter.destroy();
