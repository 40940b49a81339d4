// What the room page and the contribute page say about members, read off room states: roles, layers,
// loading / loaded / serving, idle and queued heads; and the contributor's own phase.

import type { MemberInfo, PeerCapabilities, RoomState } from "@pipemesh/mesh";
import { describe, expect, it } from "vitest";
import { headCaps, stageCaps, tabName } from "../../src/room/caps.ts";
import { contributorStatus } from "../../src/room/contributor.ts";
import {
  hasUnplannedContributor,
  memberRow,
  memberRows,
  statusText,
} from "../../src/room/member-status.ts";

const caps = (name: string): PeerCapabilities =>
  stageCaps({
    name,
    backend: "webgpu",
    adapterDescription: "llvmpipe",
    limits: { maxBufferSize: 1 << 30 },
    memoryBudgetBytes: 1 << 30,
    gflops: 2,
  });

function state(over: Partial<RoomState> = {}): RoomState {
  const members: MemberInfo[] = [
    {
      peerId: "h",
      role: "head",
      caps: headCaps("chat-tab"),
      loaded: { layerStart: 0, layerEnd: 0 },
    },
    { peerId: "a", role: "stage", caps: caps("tab-a"), loaded: { layerStart: 0, layerEnd: 2 } },
    { peerId: "b", role: "stage", caps: caps("tab-b"), loaded: null },
    { peerId: "c", role: "stage", caps: caps("tab-c"), loaded: null },
    { peerId: "q", role: "head", caps: headCaps("waiting-tab"), loaded: null },
  ];
  return {
    roomId: "r",
    model: { id: "m", layerCount: 4, layerBytes: 1, embedBytes: 1, headBytes: 1 },
    members,
    plan: {
      version: 3,
      modelId: "m",
      layerCount: 4,
      headId: "h",
      stages: [
        { peerId: "h", layerStart: 0, layerEnd: 0 },
        { peerId: "a", layerStart: 0, layerEnd: 2 },
        { peerId: "b", layerStart: 2, layerEnd: 4 },
      ],
      idle: ["c"],
    },
    planError: null,
    ready: false,
    active: "h",
    queue: ["q"],
    ...over,
  };
}

describe("memberRow", () => {
  it("gives roles, layers and statuses", () => {
    const s = state();
    const row = (id: string) =>
      memberRow(
        s,
        s.members.find((m) => m.peerId === id)!,
      );
    expect(row("h")).toMatchObject({ role: "chat", status: "chatting", layers: "embeddings" });
    expect(row("a")).toMatchObject({
      role: "contributor",
      status: "ready",
      layers: "0–2",
      name: "tab-a",
    });
    expect(row("b")).toMatchObject({ status: "loading", layers: "2–4 + LM head" });
    expect(row("c")).toMatchObject({ status: "idle", layers: "" });
    expect(row("q")).toMatchObject({ status: "queued", queuePosition: 1 });
  });

  it("says serving once every stage has loaded and a head holds the plan", () => {
    const s = state({ ready: true });
    expect(memberRow(s, s.members[1]!).status).toBe("serving");
  });

  it("orders contributors by stage, then idle ones, then chat tabs", () => {
    expect(memberRows(state()).map((r) => r.peerId)).toEqual(["a", "b", "c", "h", "q"]);
  });

  it("without a plan, contributors wait", () => {
    const s = state({
      plan: null,
      planError: { code: "ERR_PLAN_IMPOSSIBLE", message: "too small" },
    });
    expect(memberRow(s, s.members[3]!).status).toBe("waiting");
  });
});

describe("standby members", () => {
  const withStandby = (loaded: MemberInfo["loaded"]): RoomState => {
    const s = state();
    const c = s.members.find((m) => m.peerId === "c")!;
    c.loaded = loaded;
    s.plan!.standby = [{ peerId: "c", layerStart: 2, layerEnd: 4 }];
    return s;
  };

  it('say "standby for layers a–b" once they hold the range, "loading" before', () => {
    const loading = withStandby(null);
    const row = memberRow(
      loading,
      loading.members.find((m) => m.peerId === "c")!,
    );
    expect(row).toMatchObject({
      status: "standby",
      layers: "",
      standby: { layerStart: 2, layerEnd: 4, loaded: false },
    });
    expect(statusText(row)).toBe("loading standby for layers 2–4");
    const held = withStandby({ layerStart: 2, layerEnd: 4 });
    const heldRow = memberRow(
      held,
      held.members.find((m) => m.peerId === "c")!,
    );
    expect(statusText(heldRow)).toBe("standby for layers 2–4");
  });

  it("other statuses keep their words, and idle members without a standby stay idle", () => {
    const s = state();
    const rows = memberRows(s);
    expect(rows.map((r) => statusText(r))).toEqual([
      "loaded",
      "loading",
      "idle (no layers)",
      "chatting",
      "queued",
    ]);
    expect(rows.every((r) => r.standby === null)).toBe(true);
  });
});

describe("hasUnplannedContributor", () => {
  it("sees a contributor the frozen plan leaves out", () => {
    expect(hasUnplannedContributor(state())).toBe(false); // c is idle, a and b are stages
    const s = state();
    s.members.push({ peerId: "d", role: "stage", caps: caps("tab-d"), loaded: null });
    expect(hasUnplannedContributor(s)).toBe(true);
    expect(hasUnplannedContributor({ ...s, plan: null })).toBe(false);
  });
});

describe("contributorStatus", () => {
  const snap = (o: Partial<Parameters<typeof contributorStatus>[0]>) =>
    contributorStatus({
      peerId: "b",
      state: state(),
      loading: null,
      loadedKey: null,
      servingVersion: null,
      ...o,
    });

  it("follows joining, loading with its fraction, ready and serving", () => {
    expect(snap({ state: null })).toEqual({ phase: "joining" });
    expect(snap({})).toMatchObject({
      phase: "loading",
      fraction: 0,
      span: { layerStart: 2, layerEnd: 4, head: true },
    });
    expect(snap({ loading: { key: "2-4h", fraction: 0.5 } })).toMatchObject({
      phase: "loading",
      fraction: 0.5,
    });
    expect(snap({ loading: { key: "0-2", fraction: 0.9 } })).toMatchObject({ fraction: 0 }); // another range
    expect(snap({ loadedKey: "2-4h" })).toMatchObject({ phase: "ready" });
    expect(snap({ loadedKey: "2-4h", servingVersion: 3 })).toMatchObject({ phase: "serving" });
    expect(snap({ loadedKey: "2-4h", servingVersion: 2 })).toMatchObject({ phase: "ready" });
  });

  it("an idle tab named as a standby says which layers it stands by for, and when it holds them", () => {
    const base = state();
    const plan = { ...base.plan!, standby: [{ peerId: "c", layerStart: 2, layerEnd: 4 }] };
    const standing = (loadedKey: string | null) =>
      snap({ peerId: "c", state: { ...base, plan }, loadedKey });
    expect(standing(null)).toEqual({
      phase: "idle",
      reason: "standing by for layers 2–4 (loading them)",
    });
    expect(standing("2-4h")).toMatchObject({
      phase: "idle",
      reason: expect.stringMatching(/^standing by with layers 2–4 loaded/),
    });
  });

  it("is idle without layers and waiting without a plan", () => {
    expect(snap({ peerId: "c" })).toMatchObject({ phase: "idle" });
    expect(
      snap({
        state: state({ plan: null, planError: { code: "ERR_PLAN_IMPOSSIBLE", message: "x" } }),
      }),
    ).toMatchObject({ phase: "waiting", reason: "ERR_PLAN_IMPOSSIBLE: x" });
  });
});

describe("caps", () => {
  it("the chat tab never gets layers: zero budget", () => {
    expect(headCaps("t").memoryBudgetBytes).toBe(0);
  });
  it("contributor caps carry the backend, budget and speed", () => {
    const c = stageCaps({
      name: "x".repeat(300),
      backend: "cpu",
      adapterDescription: "ref",
      limits: { a: 1, b: Number.NaN },
      memoryBudgetBytes: 5.5,
      gflops: -1,
    });
    expect(c.adapter.description).toBe("CPU backend: ref");
    expect(c.adapter.limits).toEqual({ a: 1 });
    expect(c.memoryBudgetBytes).toBe(5);
    expect(c.matmulGflops).toBe(0);
    expect(c.name?.length).toBe(128);
  });
  it("tab names are short and hex", () => {
    expect(tabName(() => 0.5)).toBe("tab-8000");
  });
});
