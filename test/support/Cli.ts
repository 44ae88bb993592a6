/** Running the command line in a test as bin.ts runs it, with what it printed captured. */
import { NodeServices } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Simulation from "../../layers/app/SimulationApp.ts"
import * as Cli from "../../src/operator/Cli.ts"
import type * as Simulate from "../../src/operator/Simulate.ts"

/** What the commands printed: `Console.log` is stdout, `Console.error` stderr. */
export const capturing = () => {
  const printed = { stdout: [] as Array<string>, stderr: [] as Array<string> }
  const console: Console.Console = {
    ...globalThis.console,
    log: (...args) => void printed.stdout.push(args.join(" ")),
    error: (...args) => void printed.stderr.push(args.join(" "))
  }
  return { printed, console }
}

/** `simulate ARGS` on the embedded cluster (or `simulation`): its exit and what it printed. */
export const simulateWith = (
  args: ReadonlyArray<string>,
  options: { readonly simulation?: Simulate.Environment; readonly terminal?: Simulate.Terminal } = {}
) => {
  const { printed, console } = capturing()
  const environment: Cli.Environment<never> = {
    simulation: options.simulation ?? Simulation.environment,
    cluster: () => Layer.empty as never,
    controller: () => Effect.void,
    dev: () => Effect.void,
    env: {},
    ...(options.terminal === undefined ? {} : { terminal: options.terminal })
  }
  return Cli.run(environment)(["simulate", ...args]).pipe(
    Effect.provideService(Console.Console, console),
    Effect.provideService(Logger.LogToStderr, true),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer),
    Effect.exit,
    Effect.map((exit) => ({ exit, printed }))
  )
}
