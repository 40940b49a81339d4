// The bench:spec scenarios: four with real compute on the embedded pair and the modelled `paper`
// setting (a 70B target on a CPU cluster with a much smaller draft, as in the PipeInfer paper).

export interface Scenario {
  name: string;
  about: string;
  peers: number;
  /** One-way latency added per hop. */
  latencyMs: number;
  /** Per-hop bandwidth in Mbit/s (0: unshaped). */
  bandwidthMbps: number;
  weakDraft: boolean;
  /** Modelled compute (labelled "modelled" in every output), or null for real compute. */
  modelled: { stageMs: number; rowMs: number; draftMs: number } | null;
  /** Tokens per prompt in the default run when not the bench's 128 (--max-tokens overrides all). */
  benchTokens?: number;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "lan",
    about: "4 peers, 1 ms per hop, real compute",
    peers: 4,
    latencyMs: 1,
    bandwidthMbps: 0,
    weakDraft: false,
    modelled: null,
  },
  {
    name: "wan",
    about: "4 peers, 20 ms per hop, real compute",
    peers: 4,
    latencyMs: 20,
    bandwidthMbps: 0,
    weakDraft: false,
    modelled: null,
  },
  {
    name: "lowbw",
    about: "4 peers, 10 Mbit/s per hop, real compute",
    peers: 4,
    latencyMs: 1,
    bandwidthMbps: 10,
    weakDraft: false,
    modelled: null,
  },
  {
    name: "wan-weak",
    about: "4 peers, 20 ms per hop, the weak draft, real compute",
    peers: 4,
    latencyMs: 20,
    bandwidthMbps: 0,
    weakDraft: true,
    modelled: null,
  },
  {
    name: "paper",
    about:
      "8 stages, MODELLED compute: 60 ms per run + 10 ms per extra row per stage, drafting 25 ms per token",
    peers: 8,
    latencyMs: 1,
    bandwidthMbps: 0,
    weakDraft: false,
    modelled: { stageMs: 60, rowMs: 10, draftMs: 25 },
    // Modelled compute makes this scenario slow (plain ~0.5 s per token): 8 prompts x 128 tokens would
    // take ~17 of the default run's 25 minutes on the 2-core box, so it runs 64 tokens per prompt.
    benchTokens: 64,
  },
];
