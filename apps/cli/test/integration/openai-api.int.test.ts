// The OpenAI-compatible API of `pipemesh serve`, driven by the official `openai` client against real
// processes on loopback: serve (the head) and two `join` contributors. Greedy chat completions, streamed
// and not, equal `pipemesh generate --chat --json`'s text; stop and max_tokens hold; concurrent requests
// finish in arrival order; an aborted stream frees the room at once; unsupported and malformed requests
// get OpenAI's error shape; /metrics is Prometheus text; /health says ready; the API key is enforced.

import type { ChildProcess } from "node:child_process";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collect, EQUAL_SPEED, runCli, startCli } from "../support/run-cli.ts";

const KEY = "test-key";
const PROMPT = "Once upon a time";
const MAX = 24;

/** Resolves with the first match of `re` on the child's stdout; rejects when it exits first. */
function waitForStdout(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout?.setEncoding("utf8");
    const onData = (d: string): void => {
      text += d;
      const m = re.exec(text);
      if (m !== null) {
        child.stdout?.off("data", onData);
        resolve(m[1] ?? m[0]);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited (${code}) before ${re}:\n${text}`)));
  });
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out polling");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("pipemesh serve: OpenAI-compatible API", () => {
  const children: ChildProcess[] = [];
  let base = "";
  let client: OpenAI;
  let expected = "";
  const auth = { authorization: `Bearer ${KEY}` };
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    const line = text.split("\n").find((l) => l.startsWith(name));
    return line === undefined ? 0 : Number(line.split(" ").at(-1));
  };

  beforeAll(async () => {
    const server = startCli(["serve", "--port", "0"], { PIPEMESH_API_KEY: KEY });
    children.push(server);
    const url = await waitForStdout(server, /room for \S+: (http\S+)/);
    base = new URL(url).origin;
    children.push(
      ...["api-a", "api-b"].map((n) =>
        startCli(["join", url, "--backend", "cpu", "--name", n, ...EQUAL_SPEED]),
      ),
    );
    const local = runCli([
      "generate",
      "--backend",
      "cpu",
      "--chat",
      "--prompt",
      PROMPT,
      "--temperature",
      "0",
      "--max-tokens",
      String(MAX),
      "--json",
    ]);
    await until(async () => {
      const r = await fetch(`${base}/health`, { headers: auth });
      return ((await r.json()) as { ready: boolean }).ready ? true : undefined;
    });
    const r = await local;
    expect(r.code, r.stderr).toBe(0);
    expected = r.json?.["text"] as string;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60_000 });
  }, 120_000);

  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("lists the room's model and says ready with every layer on a stage", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["pipemesh-tiny"]);
    const health = (await (await fetch(`${base}/health`, { headers: auth })).json()) as {
      ready: boolean;
      peers: number;
      plan: { layerStart: number; layerEnd: number }[];
      rooms: unknown[];
    };
    expect(health).toMatchObject({ ready: true, peers: 2 });
    expect(health.plan).toHaveLength(2);
    expect(health.rooms).toHaveLength(1);
  });

  it("chat completions at temperature 0 equal generate --chat --json, streamed or not", async () => {
    const c = await client.chat.completions.create({
      model: "pipemesh-tiny",
      messages: [{ role: "user", content: PROMPT }],
      temperature: 0,
      max_tokens: MAX,
    });
    expect(c.choices[0]?.message.content).toBe(expected);
    expect(c.choices[0]?.finish_reason).toBe("length");
    expect(c.usage?.completion_tokens).toBe(MAX);

    const stream = await client.chat.completions.create({
      model: "pipemesh-tiny",
      messages: [{ role: "user", content: PROMPT }],
      temperature: 0,
      max_completion_tokens: MAX,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(expected);
    expect(finish).toBe("length");
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + MAX);
  });

  it("honours stop strings and max_tokens", async () => {
    const cut = expected.slice(6, 10);
    const c = await client.chat.completions.create({
      model: "pipemesh-tiny",
      messages: [{ role: "user", content: PROMPT }],
      temperature: 0,
      max_tokens: MAX,
      stop: [cut],
    });
    expect(c.choices[0]?.message.content).toBe(expected.slice(0, expected.indexOf(cut)));
    expect(c.choices[0]?.finish_reason).toBe("stop");
    const short = await client.chat.completions.create({
      model: "pipemesh-tiny",
      messages: [{ role: "user", content: PROMPT }],
      temperature: 0,
      max_tokens: 3,
    });
    expect(short.usage?.completion_tokens).toBe(3);
    expect(short.choices[0]?.finish_reason).toBe("length");
    const text = await client.completions.create({
      model: "pipemesh-tiny",
      prompt: PROMPT,
      temperature: 0,
      max_tokens: 5,
    });
    expect(text.usage?.completion_tokens).toBe(5);
  });

  it("three concurrent requests all complete, in arrival order", async () => {
    const done: number[] = [];
    const messages = (i: number) => [{ role: "user" as const, content: `${PROMPT} ${i}` }];
    const ask = (i: number) =>
      client.chat.completions
        .create({ model: "pipemesh-tiny", messages: messages(i), temperature: 0, max_tokens: 8 })
        .then((c) => {
          done.push(i);
          return c;
        });
    const queued = (n: number) =>
      until(async () => ((await metric("pipemesh_queue_length")) >= n ? true : undefined));
    // The first runs (its stream has begun; long enough to still be running while the others arrive);
    // the second and third wait in the room's queue, in order.
    const first = await client.chat.completions.create({
      model: "pipemesh-tiny",
      messages: messages(1),
      temperature: 0,
      max_tokens: 120,
      stream: true,
    });
    const it1 = first[Symbol.asyncIterator]();
    await it1.next();
    const second = ask(2);
    await queued(1);
    const third = ask(3);
    await queued(2);
    let finish: string | null | undefined = null;
    for (let r = await it1.next(); r.done !== true; r = await it1.next())
      finish = r.value.choices[0]?.finish_reason ?? finish;
    done.push(1);
    const rest = await Promise.all([second, third]);
    expect(finish).toBe("length");
    expect(rest.map((c) => c.choices[0]?.finish_reason)).toEqual(["length", "length"]);
    expect(done).toEqual([1, 2, 3]);
  });

  it("a client that aborts mid-stream frees the room within 1 s", async () => {
    const abort = new AbortController();
    const stream = await client.chat.completions.create(
      {
        model: "pipemesh-tiny",
        messages: [{ role: "user", content: "Tell me a very long story" }],
        temperature: 0,
        max_tokens: 400,
        stream: true,
      },
      { signal: abort.signal },
    );
    let abortedAt = 0;
    try {
      for await (const chunk of stream) {
        if ((chunk.choices[0]?.delta.content ?? "") !== "") {
          abortedAt = performance.now();
          abort.abort();
        }
      }
    } catch (e) {
      expect(e).toBeInstanceOf(OpenAI.APIUserAbortError);
    }
    const next = await client.chat.completions.create({
      model: "pipemesh-tiny",
      messages: [{ role: "user", content: PROMPT }],
      temperature: 0,
      max_tokens: 1,
      stream: true,
    });
    for await (const chunk of next) {
      if ((chunk.choices[0]?.delta.content ?? "") !== "") break;
    }
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(
      await metric('pipemesh_api_requests_total{model="pipemesh-tiny",outcome="cancelled"}'),
    ).toBe(1);
  });

  it("rejects n > 1 and malformed JSON with OpenAI's error shape", async () => {
    const e = await client.chat.completions
      .create({ model: "pipemesh-tiny", messages: [{ role: "user", content: "x" }], n: 3 })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e).toMatchObject({ status: 400, param: "n", code: "unsupported_parameter" });
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: '{"messages": [',
    });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
    expect(body.error["type"]).toBe("invalid_request_error");
  });

  it("/metrics is Prometheus text with the generation counters", async () => {
    const r = await fetch(`${base}/metrics`, { headers: auth });
    expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const lines = (await r.text()).split("\n").filter((l) => l !== "");
    for (const l of lines) {
      expect(l).toMatch(
        /^(# (HELP|TYPE) [a-zA-Z_:][\w:]* .+|[a-zA-Z_:][\w:]*(\{([a-zA-Z_]\w*="[^"]*",?)*\})? (-?[\d.]+(e[-+]?\d+)?|NaN|[+-]Inf))$/,
      );
    }
    expect(await metric("pipemesh_generated_tokens_total")).toBeGreaterThan(0);
    expect(await metric("pipemesh_room_peers")).toBe(2);
  });

  it("enforces the API key; without one configured, Authorization is ignored", async () => {
    const none = await fetch(`${base}/v1/models`);
    expect(none.status).toBe(401);
    const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: "nope", maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const open = startCli(["serve", "--port", "0", "--no-room"]);
    children.push(open);
    const openBase = await waitForStdout(open, /serving on (http\S+)/);
    const health = await fetch(`${openBase}/health`, { headers: { authorization: "Bearer x" } });
    expect(health.status).toBe(200);
    open.kill("SIGTERM");

    const insecure = await collect(
      startCli(["serve", "--port", "0", "--host", "0.0.0.0", "--behind-proxy"], {
        PIPEMESH_API_KEY: "",
      }),
    );
    expect(insecure.code).not.toBe(0);
    expect(insecure.stderr).toContain("ERR_INSECURE_BIND");
  });
});
