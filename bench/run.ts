/**
 * `npm run bench`: runs every benchmark suite and prints a Markdown table (paste it into bench/README.md).
 */
import { runApiServer } from "./ApiServer.bench.ts"
import { runCatalog } from "./Catalog.bench.ts"
import * as ConsolidationBench from "./Consolidation.bench.ts"
import * as ControllerBench from "./Controller.bench.ts"
import { machine, type Result, table } from "./Harness.ts"
import * as SchedulingBench from "./Scheduling.bench.ts"
import * as SimulateBench from "./Simulate.bench.ts"

const suites: Record<string, () => Promise<Array<Result>>> = { catalog: runCatalog, apiserver: runApiServer }

const args = process.argv.slice(2)
if (args[0] === "consolidation") {
  await ConsolidationBench.main(args.slice(1))
  process.exit(0)
}
if (args[0] === "controller") {
  await ControllerBench.main(args.slice(1))
  process.exit(0)
}
if (args[0] === "scheduling") {
  await SchedulingBench.main(args.slice(1))
  process.exit(0)
}
if (args[0] === "simulate") {
  await SimulateBench.main(args.slice(1))
  process.exit(0)
}
const selected = args
const results: Array<Result> = []
for (const [name, run] of Object.entries(suites)) {
  if (selected.length === 0 || selected.includes(name)) results.push(...(await run()))
}
console.log(`Machine: ${machine()}\n`)
console.log(table(results))
