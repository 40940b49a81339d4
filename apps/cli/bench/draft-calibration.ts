// Draft calibration on the embedded pair: along the target's greedy continuations of a few prompts, how often
// the target's token is the draft's top-1/2/3/4/5, and how often the top-1 is right per top-1 probability
// decile. Shows whether the draft's confidence can gate speculation (p_accept) as the reference assumes.
// With --profile FILE it also writes the per-position records behind the mesh's simulated "profile" drafter
// (packages/mesh/test/support/fixtures/draft-profile-tiny{,-weak}.json were made with --profile, 12 prompts
// x 64 tokens).
// Usage: node --import @pipemesh/engine/node-register apps/cli/bench/draft-calibration.ts [--weak]
//        [--profile FILE.json]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
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
const { values: args } = parseArgs({
  options: { weak: { type: "boolean", default: false }, profile: { type: "string" } },
});
const draftDir = args.weak ? (pair.draftWeak ?? pair.draft) : pair.draft;
const profileOut = args.profile;
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
    tail: true,
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
  // Four more for the --profile records.
  "She opened the door and",
  "We hold these truths",
  "The old man",
  "In a hole in the ground",
];
const steps = profileOut === undefined ? 48 : 64;
/** --profile: [rank of the target's token among the top-4 (4: lower), p1, p2, p3, p4] per position. */
const records: number[][] = [];
const hits = [0, 0, 0, 0, 0];
let n = 0;
const probBuckets: Record<string, [number, number]> = {};
for (const p of profileOut === undefined ? prompts.slice(0, 8) : prompts) {
  await shard.kv({ op: "clear" });
  await d.drafter.reset();
  const ids = Array.from(tok.encode(p));
  let out = await shard.run({
    tokens: Int32Array.from(ids),
    positions: Int32Array.from(ids.map((_, i) => i)),
    seqIds: ids.map(() => [0]),
    outputRows: Int32Array.from([ids.length - 1]),
  });
  for (let s = 0; s < steps; s++) {
    const t = out.outputs![0]!.argmax;
    const [pr] = await d.drafter.predict([Int32Array.from(ids)], { topK: 5 });
    const rank = Array.from(pr!.topIds).indexOf(t);
    for (let r = 0; r < 5; r++) if (rank >= 0 && rank <= r) hits[r]!++;
    const b = Math.min(9, Math.floor(pr!.topProbs[0]! * 10)).toString();
    probBuckets[b] ??= [0, 0];
    probBuckets[b][1]++;
    if (rank === 0) probBuckets[b][0]++;
    n++;
    const top4 = Array.from(pr!.topProbs.slice(0, 4), (x) => Math.round(x * 1000) / 1000);
    records.push([rank >= 0 && rank < 4 ? rank : 4, ...top4]);
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
if (profileOut !== undefined) {
  const name = args.weak ? "pipemesh-tiny/draft-weak" : "pipemesh-tiny/draft (distilled)";
  const about =
    `The draft ${name} along pipemesh-tiny/target's greedy continuations (engine drafter, CPU): per ` +
    "position the rank of the target's token among the draft's candidates (4 = below the top-4 or absent) " +
    `and the draft's top-4 probabilities. ${prompts.length} prompts x ${steps} tokens, written by ` +
    "apps/cli/bench/draft-calibration.ts --profile.";
  writeFileSync(
    profileOut,
    JSON.stringify({ about, fields: ["rank", "p1", "p2", "p3", "p4"], records }) + "\n",
  );
  console.log(`wrote ${records.length} records to ${profileOut}`);
}
await shard.destroy();
await d.drafter.destroy();
