/**
 * Test "hosts" on one machine: Linux network namespaces joined by veth pairs to a bridge in the test's
 * own namespace, which plays host A (Postgres and the API). Hosts B, C, ... each get a namespace with
 * one address; they share no filesystem paths with each other beyond what a test passes them, and
 * reach A only over their link, so `cutLink` is a real partition (packets dropped, sockets left open,
 * no error to either side) rather than a crash.
 *
 * The runner's Postgres listens on loopback only, so A relays TCP from its bridge address to it (a
 * byte pipe in this process, as a host's firewall NAT would): what B and C see is a Postgres at A's
 * address, and a cut link cuts them off it exactly as it would a remote server.
 *
 * Needs root and iproute2 (`ip netns`); {@link netnsUnavailable} says why not, for a clear skip.
 * Everything created is deleted by `destroy()`, also after a failure.
 *
 * @example
 * const net = await createNetnsHosts(["b", "c"]);
 * try { spawn("ip", ["netns", "exec", net.host("b").ns, "node", ...]); } finally { await net.destroy(); }
 */
import { execFileSync } from "node:child_process";
import { createServer, type Server, type Socket, connect } from "node:net";
import { userInfo } from "node:os";
import { isAlive } from "../../shared/process-alive.ts";

export interface NetnsHost {
  name: string;
  /** The namespace's name (for `ip netns exec`). */
  ns: string;
  address: string;
}

export interface NetnsHosts {
  /** Host A's address on the bridge (the test's own namespace). */
  aAddress: string;
  host(name: string): NetnsHost;
  /** Relays `aAddress:<returned port>` to `127.0.0.1:targetPort` (e.g. the runner's Postgres). */
  relay(targetPort: number): Promise<number>;
  /** Cuts the host off (a partition: every packet on its link dropped, nothing closed). */
  cutLink(name: string): void;
  restoreLink(name: string): void;
  destroy(): Promise<void>;
}

function ip(...args: string[]): string {
  return execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 }).toString();
}

/** Why namespaces cannot be made here (a skip reason), or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (userInfo().uid !== 0) return "network namespaces need root (ip netns add); run the tests as root";
  const probe = `mhprobe${process.pid}`;
  try {
    ip("netns", "add", probe);
  } catch (e) {
    return `cannot create a network namespace (ip netns add): ${(e as Error).message.split("\n")[0]}`;
  } finally {
    try {
      ip("netns", "del", probe);
    } catch {
      // never created
    }
  }
  return null;
}

/** Deletes the namespaces and bridges of earlier test processes that died before their cleanup. */
function removeLeftovers(): void {
  const names = ip("netns", "list").split("\n").map((l) => l.split(" ")[0]!).filter((n) => n !== "");
  const bridges = ip("-o", "link", "show", "type", "bridge").split("\n").map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((n) => n !== undefined);
  for (const name of [...names, ...bridges]) {
    const pid = /^mh([0-9a-z]+?)(br|[a-z])$/.exec(name)?.[1];
    if (pid === undefined || isAlive(parseInt(pid, 36))) continue;
    try {
      if (names.includes(name)) ip("netns", "del", name);
      else ip("link", "del", name);
    } catch {
      // gone meanwhile
    }
  }
}

export async function createNetnsHosts(names: readonly string[]): Promise<NetnsHosts> {
  // Short and unique per process (interface names have at most 15 characters), and naming the pid so
  // that what a killed test run left behind can be recognised and removed.
  const tag = `mh${process.pid.toString(36)}`;
  removeLeftovers();
  const subnet = `10.213.${process.pid % 250}`;
  const bridge = `${tag}br`;
  const hosts = new Map<string, NetnsHost & { peer: string; inner: string }>();
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const destroy = async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const h of hosts.values()) {
      try {
        ip("netns", "del", h.ns); // takes its end of the veth pair, and so the pair, with it
      } catch {
        // already gone
      }
    }
    try {
      ip("link", "del", bridge);
    } catch {
      // already gone
    }
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    names.forEach((name, i) => {
      const h = { name, ns: `${tag}${name}`, address: `${subnet}.${i + 2}`, peer: `${tag}${name}0`, inner: `${tag}${name}1` };
      hosts.set(name, h);
      ip("netns", "add", h.ns);
      ip("link", "add", h.peer, "type", "veth", "peer", "name", h.inner);
      ip("link", "set", h.inner, "netns", h.ns);
      ip("link", "set", h.peer, "master", bridge, "up");
      ip("-n", h.ns, "addr", "add", `${h.address}/24`, "dev", h.inner);
      ip("-n", h.ns, "link", "set", h.inner, "up");
      ip("-n", h.ns, "link", "set", "lo", "up");
    });
  } catch (e) {
    await destroy();
    throw e;
  }
  const aAddress = `${subnet}.1`;
  const get = (name: string) => {
    const h = hosts.get(name);
    if (!h) throw new RangeError(`no test host ${JSON.stringify(name)} (have ${[...hosts.keys()].join(", ")})`);
    return h;
  };
  return {
    aAddress,
    host: (name) => {
      const { ns, address } = get(name);
      return { name, ns, address };
    },
    relay(targetPort) {
      const server = createServer((inbound) => {
        const outbound = connect(targetPort, "127.0.0.1");
        for (const s of [inbound, outbound]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => {
            inbound.destroy();
            outbound.destroy();
          });
        }
        inbound.pipe(outbound).pipe(inbound);
      });
      servers.push(server);
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, aAddress, () => resolve((server.address() as { port: number }).port));
      });
    },
    // A's end of the veth goes down (a cable pulled at the switch): B's interface stays up with no
    // carrier, nobody closes anything, packets just stop; connections resume once the link is back.
    cutLink: (name) => void ip("link", "set", get(name).peer, "down"),
    restoreLink: (name) => void ip("link", "set", get(name).peer, "up"),
    destroy,
  };
}
