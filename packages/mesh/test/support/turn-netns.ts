// Two network namespaces that cannot reach each other, and coturn between them, for the TURN test. Peer A
// lives in pm-turn-a (10.77.0.2), peer B in pm-turn-b (10.78.0.2); the root namespace holds both gateways
// (10.77.0.1, 10.78.0.1), where coturn listens and relays. Forwarding between the two subnets is dropped
// (iptables), so the only path between the peers is the TURN relay. Needs root, iproute2, iptables and
// coturn's turnserver; `available()` says why not when one is missing.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";

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

export function teardown(): void {
  for (const n of NETS) {
    run("ip", ["link", "del", n.host], true);
    run("ip", ["netns", "del", n.ns], true);
  }
  for (const rule of DROPS) while (run("iptables", ["-D", "FORWARD", ...rule], true));
}

export function setup(): void {
  teardown();
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
      "--pidfile=/tmp/pm-turn-test.pid",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coturn did not start:\n${log}`)), 10_000);
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
