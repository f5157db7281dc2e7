#!/usr/bin/env node
// Regenerates src/gen from the protos with buf and ts-proto (see buf.gen.yaml), or with --check
// fails when the checked-in src/gen differs from what would be generated.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const buf = join(pkg, "node_modules", ".bin", "buf");
const GEN = join("src", "gen");

function generate(outBase) {
  const args = ["generate", "--template", "buf.gen.yaml"];
  if (outBase !== undefined) args.push("--output", outBase);
  execFileSync(buf, args, { cwd: pkg, stdio: "inherit" });
}

function files(dir) {
  const found = new Map();
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return found;
}

if (!process.argv.includes("--check")) {
  generate();
  console.log(`generated ${GEN}`);
} else {
  const tmp = mkdtempSync(join(tmpdir(), "visionstudio-gen-"));
  try {
    generate(tmp);
    const fresh = files(join(tmp, GEN));
    const current = files(join(pkg, GEN));
    const stale = [...new Set([...fresh.keys(), ...current.keys()])]
      .filter((name) => !fresh.get(name)?.equals(current.get(name) ?? Buffer.alloc(0)) || !current.has(name))
      .sort();
    if (stale.length > 0) {
      console.error(`${GEN} is stale (${stale.join(", ")}); run \`npm run generate\` in client/node`);
      process.exit(1);
    }
    console.log(`${GEN} is fresh`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
