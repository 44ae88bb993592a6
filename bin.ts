#!/usr/bin/env node
/**
 * The composition root: picks the service implementations and runs the command line.
 */
// The modules themselves, not the package's index, which would load every Node platform service.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import { KubeClient } from "./src/kube/KubeClient.ts"
import * as Cli from "./src/operator/Cli.ts"
import { InvalidInput } from "./src/operator/Schedule.ts"

// Each command loads only the implementations it runs: `schedule` (and `--help`) start without the API clients,
// the HTTP façade or the controllers, which took most of every start-up.

Cli.run({
  simulation: (instanceTypes, options) =>
    Layer.unwrap(
      Effect.map(
        Effect.promise(() => import("./layers/app/SimulationApp.ts")),
        (Simulation) => Simulation.environment(instanceTypes, options)
      )
    ),
  // Loaded only for an input on EC2NodeClasses: the fake AWS world and the 1,363 EC2 instance types it serves.
  aws: Effect.flatMap(
    Effect.promise(() => import("./layers/app/AwsWorldApp.ts")),
    (World) => World.make
  ),
  controller: (options) =>
    Effect.flatMap(
      Effect.promise(() => import("./layers/app/ControllerApp.ts")),
      (Controller) => Controller.run(options)
    ),
  dev: (options) =>
    Effect.flatMap(
      Effect.promise(() => import("./layers/app/Dev.ts")),
      (Dev) => Dev.run(options)
    ),
  cluster: (options) =>
    Layer.unwrap(
      Effect.map(
        Effect.promise(() => import("./layers/kube/live/LiveKubeClient.ts")),
        (Live) =>
          Layer.effect(
            KubeClient,
            Live.make({
              ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
              ...(options.context === undefined ? {} : { context: options.context })
            }).pipe(Effect.mapError((error) => new InvalidInput({ message: error.message })))
          )
      )
    ),
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
