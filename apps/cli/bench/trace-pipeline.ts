// Debug aid for benchmarks: wraps a PipelinePort and logs every launch, KV op, cancel and outcome with
// its time (stderr), to see how a scheduler fills the pipeline. Not used unless PIPEMESH_TRACE=1.

import type { PipelinePort, RunOutcome } from "@pipemesh/mesh";

export function tracePipeline(inner: PipelinePort, log: (line: string) => void): PipelinePort {
  const t0 = performance.now();
  const t = (): string => (performance.now() - t0).toFixed(0).padStart(6);
  return {
    launch(run) {
      log(
        `${t()} launch #${run.runId} ${run.kind} rows=${run.tokens.length} pos=${run.positions[0]}..${run.positions[run.positions.length - 1]}`,
      );
      inner.launch(run);
    },
    kv(op) {
      log(`${t()} kv ${JSON.stringify(op)}`);
      inner.kv(op);
    },
    cancel(ids) {
      log(`${t()} cancel ${ids.join(",")}`);
      inner.cancel(ids);
    },
    hasOutcome: () => inner.hasOutcome(),
    async next(signal): Promise<RunOutcome> {
      const o = await inner.next(signal);
      log(`${t()} outcome #${o.runId} ${o.status} stageMs=${o.stageComputeMs.toFixed(0)}`);
      return o;
    },
  };
}
