/**
 * A tiny benchmark harness: runs a case several times, reports the median wall time and the heap it leaves behind.
 * Benchmarks are not tests; numbers go to bench/README.md with the machine they ran on.
 */
import { readFileSync } from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"

/** One measured case. */
export interface Result {
  readonly suite: string
  readonly name: string
  /** Median milliseconds per run. */
  readonly medianMs: number
  /** Operations per run, for throughput. */
  readonly operations: number
  readonly heapMiB: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Runs `body` `runs` times after one warm-up; `body` returns how many operations it did. */
export const measure = async (
  suite: string,
  name: string,
  body: () => number | Promise<number>,
  runs = 5
): Promise<Result> => {
  await body()
  const times: Array<number> = []
  let operations = 0
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    operations = await body()
    times.push(performance.now() - start)
  }
  return {
    suite,
    name,
    medianMs: median(times),
    operations,
    heapMiB: process.memoryUsage().heapUsed / 1024 / 1024
  }
}

/** The results as a Markdown table. */
export const table = (results: ReadonlyArray<Result>): string => {
  const rows = results.map(
    (r) =>
      `| ${r.suite} | ${r.name} | ${r.medianMs === 0 ? "–" : r.medianMs.toFixed(2)} | ${r.operations || "–"} | ${
        r.medianMs === 0 ? "–" : Math.round((r.operations / r.medianMs) * 1000).toLocaleString("en-US")
      } | ${r.heapMiB.toFixed(0)} |`
  )
  return [
    "| suite | case | median ms | ops | ops/s | heap MiB |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...rows
  ].join("\n")
}

/** Where the numbers came from. */
export const machine = (): string =>
  `${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}, Node ${process.version}, ${process.platform}/${process.arch}`

/** A JSON dataset of the repository's data/ directory (npm runs benchmarks from the repository root). */
export const readDataJson = (file: string): unknown =>
  JSON.parse(readFileSync(join(process.cwd(), "data", file), "utf8"))
