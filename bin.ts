#!/usr/bin/env node
/**
 * The composition root: picks the service implementations and runs the command line.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Logger, References } from "effect"
import * as Controller from "./layers/app/Controller.ts"
import * as Dev from "./layers/app/Dev.ts"
import * as Simulation from "./layers/app/Simulation.ts"
import * as Cli from "./src/operator/Cli.ts"

Cli.run({
  simulation: Simulation.environment,
  controller: Controller.run,
  dev: Dev.run,
  env: process.env,
  // simulate's progress line: on stderr when it is a terminal (never in CI logs or pipes), paced by the wall clock.
  terminal: {
    isTTY: process.stderr.isTTY === true,
    write: (text) => void process.stderr.write(text),
    now: () => performance.now()
  }
})(process.argv.slice(2)).pipe(
  // Bad input is the user's to fix: one line on stderr and exit code 2, never a stack trace.
  Effect.catchTag("InvalidInput", (error) =>
    Console.error(`error: ${error.message}`).pipe(Effect.andThen(Effect.sync(() => (process.exitCode = 2))))
  ),
  // Output is the commands' (JSON a script parses); logs go to stderr, and only warnings unless --log-level says more.
  // `controller` and `dev` install their own JSON logger at LOG_LEVEL.
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provideService(References.MinimumLogLevel, "Warn"),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
