// Two network namespaces that cannot reach each other, and coturn between them, for the TURN test. Peer A
// lives in pm-turn-a (10.77.0.2), peer B in pm-turn-b (10.78.0.2); the root namespace holds both gateways
// (10.77.0.1, 10.78.0.1), where coturn listens and relays. Forwarding between the two subnets is dropped
// (iptables), so the only path between the peers is the TURN relay. Needs root, iproute2, iptables and
// coturn's turnserver; `available()` says why not when one is missing. Runs on one machine take turns
// (a lock file); `setup()` removes what a killed earlier run left, `teardown()` runs at the suite's end and
// on a failed setup, and a detached watchdog does the same if the worker dies without it.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TURN = { user: "pm", password: "pm-turn-test-secret", realm: "pipemesh.test" };
export const NETNS = { a: "pm-turn-a", b: "pm-turn-b" } as const;
const NETS = [
  {
    ns: NETNS.a,
    host: "pmta0",
    peer: "pmta1",
    gw: "10.77.0.1",
    ip: "10.77.0.2",
    net: "10.77.0.0/24",
  },
  {
    ns: NETNS.b,
    host: "pmtb0",
    peer: "pmtb1",
    gw: "10.78.0.1",
    ip: "10.78.0.2",
    net: "10.78.0.0/24",
  },
] as const;
const PIDFILE = join(tmpdir(), "pm-turn-test.pid");
const DROPS = [
  ["-s", NETS[0].net, "-d", NETS[1].net, "-j", "DROP"],
  ["-s", NETS[1].net, "-d", NETS[0].net, "-j", "DROP"],
];

function run(cmd: string, args: string[], quiet = false): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch (e) {
    if (quiet) return false;
    throw new Error(`${cmd} ${args.join(" ")} failed: ${String(e)}`);
  }
}

/** null when the test can run here, else the reason it cannot. */
export function available(): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const tool of ["ip", "iptables", "turnserver"])
    if (!run("sh", ["-c", `command -v ${tool}`], true)) return `${tool} is not installed`;
  if (!run("ip", ["netns", "add", "pm-turn-probe"], true))
    return "cannot create network namespaces";
  run("ip", ["netns", "del", "pm-turn-probe"], true);
  return null;
}

/** What of this suite's namespaces and DROP rules still exists (the test checks teardown left none). */
export function leftovers(): string[] {
  const out: string[] = [];
  let list = "";
  try {
    list = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  } catch {
    /* no ip: nothing of ours can exist */
  }
  for (const n of NETS) if (new RegExp(`^${n.ns}\\b`, "m").test(list)) out.push(n.ns);
  for (const rule of DROPS)
    if (run("iptables", ["-C", "FORWARD", ...rule], true)) out.push(`iptables ${rule.join(" ")}`);
  return out;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a coturn an earlier, killed run left behind (by its pidfile, only if that pid is a turnserver). */
function killStaleCoturn(): void {
  try {
    const pid = Number(readFileSync(PIDFILE, "utf8").trim());
    if (alive(pid) && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "turnserver")
      process.kill(pid, "SIGTERM");
  } catch {
    /* no pidfile, or no such process */
  }
  rmSync(PIDFILE, { force: true });
}

function removeAll(): void {
  for (const n of NETS) {
    run("ip", ["link", "del", n.host], true);
    run("ip", ["netns", "del", n.ns], true);
  }
  for (const rule of DROPS) while (run("iptables", ["-D", "FORWARD", ...rule], true));
}

// One run at a time on a machine: the names, subnets and port are fixed, and several test runs (several
// checkouts, or two vitest invocations) may start together. The lock file holds the holder's pid and its
// watchdog's pid; it is stale once both are gone.
const LOCK = join(tmpdir(), "pm-turn-test.lock");
let watchdog: ChildProcess | null = null;

async function lock(timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(LOCK, `${process.pid}\n`, { flag: "wx" });
      return;
    } catch {
      let pids: number[] = [];
      try {
        pids = readFileSync(LOCK, "utf8").split(/\s+/).filter(Boolean).map(Number);
      } catch {
        continue; // released between the two calls
      }
      if (!pids.some(alive)) {
        rmSync(LOCK, { force: true });
        continue;
      }
      if (Date.now() > until)
        throw new Error(`another TURN test run (pid ${pids.join(", ")}) holds ${LOCK}`);
      await new Promise((r) => setTimeout(r, 200)); // polls the other run's lock, no result to wait on
    }
  }
}

/**
 * A detached shell that outlives this worker: once the worker is gone (killed, even with SIGKILL, by an
 * interrupted vitest), it removes the namespaces, veths and DROP rules, stops coturn and frees the lock.
 * `teardown()` stops it after doing the same itself.
 */
function startWatchdog(): void {
  const q = (a: string): string => `'${a}'`;
  const cmds = [
    ...NETS.flatMap((n) => [`ip link del ${n.host}`, `ip netns del ${n.ns}`]),
    ...DROPS.map((r) => `while iptables -D FORWARD ${r.map(q).join(" ")}; do :; done`),
    `[ -f ${PIDFILE} ] && kill "$(cat ${PIDFILE})"`,
    `rm -f ${PIDFILE} ${LOCK}`,
  ];
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${cmds.map((c) => `${c} >/dev/null 2>&1`).join("; ")}`;
  watchdog = spawn("sh", ["-c", script], { detached: true, stdio: "ignore" });
  watchdog.unref();
  appendFileSync(LOCK, `${watchdog.pid ?? ""}\n`);
}

/**
 * Removes everything setup made, stops the watchdog and frees the lock (idempotent); returns what was still
 * left before the lock was freed (nothing, unless removal failed).
 */
export function teardown(): string[] {
  removeAll();
  const left = leftovers();
  if (watchdog !== null) {
    watchdog.kill("SIGKILL");
    watchdog = null;
    killStaleCoturn();
    rmSync(LOCK, { force: true });
  }
  return left;
}

export async function setup(): Promise<void> {
  await lock(120_000);
  startWatchdog();
  killStaleCoturn();
  removeAll();
  for (const n of NETS) {
    run("ip", ["netns", "add", n.ns]);
    run("ip", ["link", "add", n.host, "type", "veth", "peer", "name", n.peer]);
    run("ip", ["link", "set", n.peer, "netns", n.ns]);
    run("ip", ["addr", "add", `${n.gw}/24`, "dev", n.host]);
    run("ip", ["link", "set", n.host, "up"]);
    const inNs = (...args: string[]): boolean => run("ip", ["netns", "exec", n.ns, ...args]);
    inNs("ip", "link", "set", "lo", "up");
    inNs("ip", "addr", "add", `${n.ip}/24`, "dev", n.peer);
    inNs("ip", "link", "set", n.peer, "up");
    inNs("ip", "route", "add", "default", "via", n.gw);
  }
  for (const rule of DROPS) run("iptables", ["-I", "FORWARD", ...rule]);
}

/** ICE servers as each namespace reaches coturn. */
export function iceServersFor(
  side: "a" | "b",
): { urls: string[]; username: string; credential: string }[] {
  const gw = side === "a" ? NETS[0].gw : NETS[1].gw;
  return [
    {
      urls: [`turn:${gw}:3478?transport=udp`, `turn:${gw}:3478?transport=tcp`],
      username: TURN.user,
      credential: TURN.password,
    },
  ];
}

/** Starts coturn on both gateways, relaying from 10.77.0.1; resolves once it listens. */
export async function startCoturn(): Promise<ChildProcess> {
  const child = spawn(
    "turnserver",
    [
      "-n",
      "--listening-port=3478",
      `--listening-ip=${NETS[0].gw}`,
      `--listening-ip=${NETS[1].gw}`,
      `--relay-ip=${NETS[0].gw}`,
      "--min-port=49160",
      "--max-port=49200",
      "--lt-cred-mech",
      `--user=${TURN.user}:${TURN.password}`,
      `--realm=${TURN.realm}`,
      "--fingerprint",
      "--no-cli",
      "--no-tls",
      "--no-dtls",
      "--log-file=stdout",
      "--simple-log",
      `--pidfile=${PIDFILE}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`coturn did not start:\n${log}`));
    }, 10_000);
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (/listener opened on|Total General servers/i.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`coturn exited (${code}):\n${log}`)));
  });
  return child;
}
