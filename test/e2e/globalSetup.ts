/**
 * Builds `dist/` before the end-to-end tests when it is missing or older than the sources, so `npm test` works on a
 * fresh clone after `npm install` and never runs a stale CLI. Type errors are the typecheck's to report: a build that
 * emitted a fresh `dist/bin.js` despite them is good enough to run.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "dist", "bin.js")

/** The newest modification time of the sources the build compiles and of its configuration. */
const newestSource = (): number => {
  let newest = 0
  const visit = (path: string) => {
    const stat = statSync(path)
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry))
    } else if (path.endsWith(".ts") || path.endsWith(".json")) {
      newest = Math.max(newest, stat.mtimeMs)
    }
  }
  for (const entry of ["src", "layers", "bin.ts", "tsconfig.json", "tsconfig.build.json"]) visit(join(root, entry))
  return newest
}

const fresh = () => existsSync(bin) && statSync(bin).mtimeMs >= newestSource()

export default function setup() {
  if (fresh()) return
  const started = performance.now()
  const build = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], {
    cwd: root,
    encoding: "utf8"
  })
  if (!existsSync(bin) || (build.status !== 0 && !fresh())) {
    throw new Error(`building dist/ for the end-to-end tests failed:\n${build.stdout}\n${build.stderr}`)
  }
  if (build.status !== 0) console.warn(`dist/ built with type errors:\n${build.stdout}`)
  console.log(`built dist/ for the end-to-end tests in ${Math.round(performance.now() - started)} ms`)
}
