import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Console, Duration, Effect, Layer } from "effect"
import * as Cli from "../../src/operator/Cli.ts"
import type * as Options from "../../src/operator/Options.ts"

/** An environment whose `controller` and `dev` record what they were asked to run. */
const recording = (env: Record<string, string> = {}) => {
  const calls = { controller: [] as Array<Options.Options>, dev: [] as Array<Cli.DevOptions> }
  const environment: Cli.Environment<never> = {
    simulation: () => Layer.empty as never,
    controller: (options) => Effect.sync(() => void calls.controller.push(options)),
    dev: (options) => Effect.sync(() => void calls.dev.push(options)),
    env
  }
  return {
    calls,
    run: (args: ReadonlyArray<string>) => Cli.run(environment)(args).pipe(Effect.provide(NodeServices.layer))
  }
}

describe("Cli controller and dev", () => {
  it.effect("controller: an unknown flag or an invalid value is one InvalidInput line (exit code 2 in bin.ts)", () =>
    Effect.gen(function* () {
      const { calls, run } = recording()
      for (const [args, message] of [
        [["controller", "--bogus"], "flag provided but not defined: -bogus"],
        [["controller", "--kube-client-qps=abc"], 'invalid value "abc" for flag --kube-client-qps: expected a number']
      ] as const) {
        const error = yield* Effect.flip(run(args))
        assert.strictEqual(error._tag, "InvalidInput")
        assert.strictEqual(error.message, message)
      }
      assert.strictEqual(calls.controller.length, 0)
    })
  )

  it.effect("controller: flags over the environment reach the operator", () =>
    Effect.gen(function* () {
      const { calls, run } = recording({ BATCH_MAX_DURATION: "20s", KUBECONFIG: "/env/kc" })
      yield* run(["controller", "--kubeconfig", "/tmp/kc", "--disable-leader-election"])
      const [options] = calls.controller
      assert.strictEqual(options?.kubeconfig, "/tmp/kc")
      assert.isTrue(options?.disableLeaderElection)
      assert.strictEqual(Duration.toMillis(options!.batchMaxDuration), 20_000)
    })
  )

  it.effect("dev: flags, with the operator options from the environment", () =>
    Effect.gen(function* () {
      const { calls, run } = recording({ FEATURE_GATES: "SpotToSpotConsolidation=true" })
      yield* run([
        "dev",
        "--port",
        "0",
        "--no-controllers",
        "-f",
        "a.yaml",
        "-f",
        "b.yaml",
        "--write-kubeconfig",
        "/tmp/kc",
        "--insecure"
      ])
      const [options] = calls.dev
      assert.strictEqual(options?.port, 0)
      assert.isFalse(options?.controllers)
      assert.isFalse(options?.faultInjection)
      assert.isTrue(options?.insecure)
      assert.deepStrictEqual(options?.files, ["a.yaml", "b.yaml"])
      assert.strictEqual(options?.writeKubeconfig, "/tmp/kc")
      assert.strictEqual(options?.metricsPort, 0)
      assert.isTrue(options?.operator.featureGates.SpotToSpotConsolidation)

      yield* run(["dev"])
      assert.strictEqual(calls.dev[1]?.port, 8080)
      assert.isTrue(calls.dev[1]?.controllers)
      assert.isFalse(calls.dev[1]?.insecure)
      assert.strictEqual(calls.dev[1]?.writeKubeconfig, undefined)
    })
  )

  it.effect("dev: an invalid variable is one InvalidInput line", () =>
    Effect.gen(function* () {
      const { run } = recording({ LOG_LEVEL: "loud" })
      const error = yield* Effect.flip(run(["dev"]))
      assert.strictEqual(error._tag, "InvalidInput")
    })
  )
})

/** What the commands printed: `Console.log` is stdout, `Console.error` stderr. */
const capturing = () => {
  const printed = { stdout: [] as Array<string>, stderr: [] as Array<string> }
  const console: Console.Console = {
    ...globalThis.console,
    log: (...args) => void printed.stdout.push(args.join(" ")),
    error: (...args) => void printed.stderr.push(args.join(" "))
  }
  return { printed, console }
}

describe("Cli flag errors", () => {
  // Each is one InvalidInput line naming the flag (bin.ts prints it on stderr and exits 2), never the help.
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["schedule", "-o", "yaml", "-f", "a.yaml"], '"yaml" for flag --output'],
    [["schedule"], "--file"],
    [["schedule", "-f"], "--file"],
    [["schedule", "--bogus", "-f", "a.yaml"], "--bogus"],
    [["simulate", "-f", "a.yaml", "--output"], "--output"],
    [["dev", "--port", "99999"], '"99999" for flag --port: expected a port between 0 and 65535'],
    [["dev", "--port", "http"], '"http" for flag --port'],
    [["dev", "--metrics-port", "-1"], '"-1" for flag --metrics-port'],
    [["dev", "--no-controllers=maybe"], "--no-controllers"],
    [["crds", "--output-dir"], "--output-dir"],
    [["crds", "extra"], '"extra"'],
    [["nosuch"], '"nosuch"'],
    [["--log-level", "loud", "crds"], '"loud" for flag --log-level']
  ]
  for (const [args, naming] of cases) {
    it.effect(`${args.join(" ") || "(none)"}: one line naming ${naming}, nothing else printed`, () =>
      Effect.gen(function* () {
        const { calls, run } = recording()
        const { printed, console } = capturing()
        const error = yield* Effect.flip(run(args).pipe(Effect.provideService(Console.Console, console)))
        assert.strictEqual(error._tag, "InvalidInput")
        assert.include(error.message, naming)
        assert.notInclude(error.message, "\n")
        assert.deepStrictEqual(printed, { stdout: [], stderr: [] })
        assert.deepStrictEqual(calls, { controller: [], dev: [] })
      })
    )
  }

  it.effect("--help and --version still print and succeed", () =>
    Effect.gen(function* () {
      const { run } = recording()
      for (const args of [["--help"], ["--version"], ["simulate", "--help"], ["dev", "-h"]]) {
        const { printed, console } = capturing()
        yield* run(args).pipe(Effect.provideService(Console.Console, console))
        assert.isAbove(printed.stdout.join("\n").length, 0, args.join(" "))
        assert.deepStrictEqual(printed.stderr, [])
      }
    })
  )
})
