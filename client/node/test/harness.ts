/**
 * Starts the loopback OpenAI-compatible upstream and the real visionstudio server as child
 * processes on free loopback ports, and stops them again.
 *
 * The Python side comes from the repository's virtualenv (`make install`); set VISIONSTUDIO_VENV
 * to use another one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const API_KEY = "node-key";
const UPSTREAM_KEY = "sk-node";
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 30_000;
/** Seconds the loopback upstream takes per image. */
export const UPSTREAM_LATENCY_S = 0.2;

/** The repository root: the nearest directory above this file with a pyproject.toml. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "pyproject.toml"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("no pyproject.toml above the test: run it inside the repository");
    dir = parent;
  }
  return dir;
}

/** A port nobody listens on right now. */
/** `count` distinct free ports: each listener stays open until all are chosen. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports: number[] = [];
  for (const server of servers) {
    await new Promise<void>((ok, fail) => server.once("error", fail).listen(0, HOST, ok));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    ports.push(address.port);
  }
  await Promise.all(servers.map((server) => new Promise((ok) => server.close(ok))));
  return ports;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect({ host: HOST, port });
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
  });
}

class Child {
  readonly log: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.setEncoding("utf8").on("data", (text: string) => this.log.push(text));
    }
    this.exited = new Promise((ok) => proc.once("exit", (code) => ok(code)));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  output(): string {
    return `--- ${this.name} output ---\n${this.log.join("")}`;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface Service {
  /** `127.0.0.1:<grpc port>`. */
  target: string;
  /** `http://127.0.0.1:<http port>`. */
  httpBase: string;
  /** The servers' output so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export async function startService(): Promise<Service> {
  const root = repoRoot();
  const venv = process.env.VISIONSTUDIO_VENV ?? join(root, ".venv");
  const python = resolve(venv, "bin", "python");
  const serverBin = resolve(venv, "bin", "visionstudio-server");
  for (const exe of [python, serverBin]) {
    if (!existsSync(exe)) throw new Error(`${exe} is missing: run \`make install\` first`);
  }
  const dataDir = await mkdtemp(join(tmpdir(), "visionstudio-node-"));
  const children: Child[] = [];
  // Children must not outlive the test run, even when it dies half-way.
  const reap = (): void => {
    for (const child of children) if (child.running) child.proc.kill("SIGKILL");
  };
  process.once("exit", reap);

  const stop = async (): Promise<void> => {
    // The server first, so it never sees its upstream vanish.
    for (const child of [...children].reverse()) await child.stop();
    process.removeListener("exit", reap);
    await rm(dataDir, { recursive: true, force: true });
  };
  const output = (): string => children.map((c) => c.output()).join("\n");

  try {
    // --port 0: the upstream binds a free port itself and prints its base URL on stdout. Each
    // image takes UPSTREAM_LATENCY_S, so a stream is still running when a test leaves it.
    const upstream = new Child(
      "fake upstream",
      spawn(
        python,
        [
          "-m",
          "tests.fake_openai",
          "--port",
          "0",
          "--api-key",
          UPSTREAM_KEY,
          "--latency",
          String(UPSTREAM_LATENCY_S),
        ],
        // The fake lives in the repository's tests package, importable from its root.
        { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
      ),
    );
    children.push(upstream);
    const baseUrl = await firstLine(upstream);

    // Another process may take a port between our choice and the server's bind: the server then
    // refuses to start (it never shares a busy port), and we choose again.
    for (let attempt = 1; ; attempt++) {
      const [grpcPort = 0, httpPort = 0] = await freePorts(2);
      const httpBase = `http://${HOST}:${httpPort}`;
      const server = startServer(serverBin, grpcPort, httpPort, dataDir, baseUrl, httpBase);
      children.push(server);
      try {
        await waitForPorts(server, [grpcPort, httpPort]);
        return { target: `${HOST}:${grpcPort}`, httpBase, output, stop };
      } catch (err) {
        if (attempt >= 3 || !server.output().includes("already in use")) throw err;
        children.splice(children.indexOf(server), 1);
      }
    }
  } catch (err) {
    const text = output();
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${text}`);
  }
}

async function firstLine(child: Child): Promise<string> {
  const stdout = child.proc.stdout;
  if (stdout === null) throw new Error(`${child.name} has no stdout`);
  return await new Promise<string>((ok, fail) => {
    let seen = "";
    const timer = setTimeout(() => fail(new Error(`${child.name} printed no URL in time`)), START_TIMEOUT_MS);
    stdout.on("data", (text: string) => {
      seen += text;
      const end = seen.indexOf("\n");
      if (end >= 0) {
        clearTimeout(timer);
        ok(seen.slice(0, end).trim());
      }
    });
    void child.exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`${child.name} exited with ${code} before printing its URL`));
    });
  });
}

async function waitForPorts(child: Child, ports: number[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (const port of ports) {
    while (!(await accepts(port))) {
      if (!child.running) throw new Error(`${child.name} exited with ${child.proc.exitCode}`);
      if (Date.now() > deadline) throw new Error(`${child.name} did not accept on port ${port} in time`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }
}

function startServer(
  serverBin: string,
  grpcPort: number,
  httpPort: number,
  dataDir: string,
  baseUrl: string,
  httpBase: string,
): Child {
  return new Child(
    "visionstudio-server",
    spawn(
      serverBin,
      [
        "--grpc-port",
        String(grpcPort),
        "--http-port",
        String(httpPort),
        "--data-dir",
        dataDir,
        "--host",
        HOST,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          OPENAI_BASE_URL: baseUrl,
          OPENAI_API_KEY: UPSTREAM_KEY,
          VISIONSTUDIO_API_KEYS: API_KEY,
          VISIONSTUDIO_URL_ALLOWLIST: HOST,
          VISIONSTUDIO_PUBLIC_URL: httpBase,
          VISIONSTUDIO_SHUTDOWN_GRACE_S: "2",
        },
      },
    ),
  );
}
