import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Cli from "../../src/operator/Cli.ts"
import type * as Controllers from "../../src/operator/Controllers.ts"
import type * as Options from "../../src/operator/Options.ts"
import type * as Simulate from "../../src/operator/Simulate.ts"
import { root } from "../fixtures.ts"
import { capturing, simulateWith } from "../support/Cli.ts"

/** An environment whose `controller` and `dev` record what they were asked to run. */
const recording = (env: Record<string, string> = {}) => {
  const calls = { controller: [] as Array<Options.Options>, dev: [] as Array<Cli.DevOptions> }
  const environment: Cli.Environment<never> = {
    simulation: () => Layer.empty as never,
    cluster: () => Layer.empty as never,
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

describe("Cli flag errors", () => {
  // Each is one InvalidInput line naming the flag (bin.ts prints it on stderr and exits 2), never the help.
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["schedule", "-o", "yaml", "-f", "a.yaml"], '"yaml" for flag --output'],
    // The HTML report is simulate's alone.
    [["schedule", "-o", "html", "-f", "a.yaml"], '"html" for flag --output'],
    [["simulate", "-f", "a.yaml", "--report"], "--report"],
    [["schedule"], "--file"],
    [["schedule", "-f"], "--file"],
    [["schedule", "--bogus", "-f", "a.yaml"], "--bogus"],
    [["schedule", "-f", "a.yaml", "--min-values-policy", "Loose"], '"Loose" for flag --min-values-policy'],
    [["simulate", "-f", "a.yaml", "--min-values-policy", "strict"], '"strict" for flag --min-values-policy'],
    [["simulate", "-f", "a.yaml", "--max-duration", "soon"], '"soon" for flag --max-duration'],
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
      const { printed, console } = capturing()
      yield* run(["simulate", "--help"]).pipe(Effect.provideService(Console.Console, console))
      assert.include(printed.stdout.join("\n"), "--max-duration")
    })
  )
})

// -- simulate: the duration limit and the progress line -------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), "cli-test-"))
const scenarioFile = (name: string, duration: string, objects = "") => {
  const path = join(scratch, name)
  writeFileSync(
    path,
    `${objects}apiVersion: karpenter-effect.dev/v1alpha1\nkind: Scenario\nmetadata: {name: ${name}}\nspec: {duration: ${duration}}\n`
  )
  return path
}

/** A cluster that must never be built: reaching it means the scenario was let through. */
class Started extends Error {}
const unbuildable: Simulate.Environment = () => Layer.effect(KubeClient, Effect.die(new Started()))

describe("Cli simulate limits", () => {
  it.live("refuses a 10-year scenario up front, before the cluster is built", () =>
    Effect.gen(function* () {
      const file = scenarioFile("ten-years", "87600h")
      const { exit, printed } = yield* simulateWith(["-f", file], { simulation: unbuildable })
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.strictEqual((error as { _tag?: string })._tag, "InvalidInput", String(error))
      assert.strictEqual(
        (error as Error).message,
        `${file}: document 1: spec.duration 87600h is longer than the limit of 31d (raise it with --max-duration)`
      )
      assert.deepStrictEqual(printed, { stdout: [], stderr: [] })
    })
  )

  it.live("--max-duration raises the limit (and lowers it)", () =>
    Effect.gen(function* () {
      const long = scenarioFile("forty-days", "960h")
      const raised = yield* simulateWith(["-f", long, "--max-duration", "90d"], { simulation: unbuildable })
      assert.isTrue(
        Exit.isFailure(raised.exit) && Cause.squash(raised.exit.cause) instanceof Started,
        "a 40-day scenario under --max-duration 90d reaches the cluster"
      )

      const short = scenarioFile("three-quarters", "45m")
      const lowered = yield* simulateWith(["-f", short, "--max-duration", "30m"], { simulation: unbuildable })
      assert.include(
        Exit.isFailure(lowered.exit) ? String(Cause.squash(lowered.exit.cause)) : "",
        "spec.duration 45m is longer than the limit of 30m"
      )
      // A report that could not be written is refused before the run too.
      const nowhere = join(scratch, "no-such-directory", "report.html")
      const unwritable = yield* simulateWith(["-f", short, "--report", nowhere], { simulation: unbuildable })
      assert.include(
        Exit.isFailure(unwritable.exit) ? String(Cause.squash(unwritable.exit.cause)) : "",
        `--report ${nowhere}: no directory ${join(scratch, "no-such-directory")}`
      )
      const ran = yield* simulateWith(["-f", short, "--max-duration", "1h", "-o", "json"])
      assert.isTrue(Exit.isSuccess(ran.exit))
      assert.strictEqual(JSON.parse(ran.printed.stdout.join("\n")).snapshots.at(-1).time, 45 * 60)
    })
  )

  it.live(
    "on a terminal, progress goes to stderr in place; the output is the same bytes; elsewhere no progress",
    () =>
      Effect.gen(function* () {
        // Two virtual hours: a progress sample after each, with nodes launched for the pods.
        const file = scenarioFile(
          "two-hours",
          "2h",
          `${readFileSync(join(root, "examples", "demo.yaml"), "utf8")
            .split("\n---\n")
            .slice(0, 3)
            .join("\n---\n")}\n---\n`
        )
        // A terminal whose wall clock is 300 ms later at each reading (the start, then each sample): at most one update
        // per 500 ms shows every other sample.
        const written: Array<string> = []
        let wall = 0
        const terminal = (isTTY: boolean): Simulate.Terminal => ({
          isTTY,
          write: (text) => void written.push(text),
          now: () => (wall += 300)
        })
        const shown = yield* simulateWith(["-f", file, "-o", "json"], { terminal: terminal(true) })
        assert.isTrue(Exit.isSuccess(shown.exit))
        assert.deepStrictEqual(shown.printed.stderr, [])
        const progress = written.join("")
        assert.isTrue(progress.startsWith("\r\x1b[K"), "each update rewrites the line")
        assert.notInclude(progress, "t=1h00m00s", "300 ms after the start is too soon")
        assert.match(progress, /t=2h00m00s of 2h00m00s \(100%\), nodes [1-9]\d*, pods 3 bound, 0 pending\r/, "the end")
        assert.isTrue(progress.endsWith("\r\x1b[K"), "the line is cleared at the end")
        assert.notInclude(progress, "\n")

        written.length = 0
        const piped = yield* simulateWith(["-f", file, "-o", "json"], { terminal: terminal(false) })
        assert.isTrue(Exit.isSuccess(piped.exit))
        assert.deepStrictEqual(written, [], "no progress when stderr is not a terminal")
        assert.strictEqual(shown.printed.stdout.join("\n"), piped.printed.stdout.join("\n"), "the same JSON")
      }),
    60_000
  )
})

describe("Cli feature gates in the offline commands", () => {
  /** The controller options the simulation was built with; the cluster itself is never built. */
  const gatesReaching = (args: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const given: Array<Controllers.ControllerOptions> = []
      const recording: Simulate.Environment = (_, options) => {
        given.push(options)
        return unbuildable([], options)
      }
      const { exit } = yield* simulateWith(args, { simulation: recording })
      return { given, exit }
    })

  it.live("simulate: spec.featureGates sets the gates, --feature-gates wins where both name one", () =>
    Effect.gen(function* () {
      const path = join(scratch, "gated")
      writeFileSync(
        path,
        "apiVersion: karpenter-effect.dev/v1alpha1\nkind: Scenario\nmetadata: {name: gated}\nspec:\n  duration: 1h\n  featureGates: {StaticCapacity: true, SpotToSpotConsolidation: true}\n"
      )
      const fromScenario = yield* gatesReaching(["-f", path])
      assert.deepInclude(fromScenario.given[0], { staticCapacity: true, spotToSpotConsolidation: true })
      const overridden = yield* gatesReaching(["-f", path, "--feature-gates", "StaticCapacity=false"])
      assert.deepInclude(overridden.given[0], { staticCapacity: false, spotToSpotConsolidation: true })
      const defaults = yield* gatesReaching(["-f", scenarioFile("ungated", "1h")])
      assert.deepInclude(defaults.given[0], { staticCapacity: false, spotToSpotConsolidation: false })
    })
  )

  it.live("an unknown gate is one line naming where it came from, before anything runs", () =>
    Effect.gen(function* () {
      const bad = yield* gatesReaching(["-f", scenarioFile("bad-flag", "1h"), "--feature-gates", "Teleport=true"])
      assert.lengthOf(bad.given, 0)
      assert.strictEqual(
        Exit.isFailure(bad.exit) ? (Cause.squash(bad.exit.cause) as Error).message : "",
        "--feature-gates: unrecognized feature gate: Teleport"
      )
      const path = join(scratch, "bad-scenario")
      writeFileSync(
        path,
        "apiVersion: karpenter-effect.dev/v1alpha1\nkind: Scenario\nmetadata: {name: bad}\nspec: {duration: 1h, featureGates: {Teleport: true}}\n"
      )
      const badScenario = yield* gatesReaching(["-f", path])
      assert.strictEqual(
        Exit.isFailure(badScenario.exit) ? (Cause.squash(badScenario.exit.cause) as Error).message : "",
        `${path}: document 1: spec.featureGates: unrecognized feature gate: Teleport`
      )
      const { run } = recording()
      const schedule = yield* Effect.flip(
        run(["schedule", "-f", join(root, "examples/schedule/cluster.yaml"), "--feature-gates", "NodeRepair=maybe"])
      )
      assert.match(schedule.message, /^--feature-gates: invalid value of NodeRepair=maybe/)
    })
  )
})

describe("Cli --min-values-policy in the offline commands", () => {
  // A NodePool asking for more instance types than KWOK's amd64 catalogue has in one family, for a pod.
  const manifest = `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: flexible}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.kwok.sh/instance-family, operator: In, values: [c]}
        - {key: node.kubernetes.io/instance-type, operator: Exists, minValues: 50}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default}
spec:
  containers: [{name: app, image: app, resources: {requests: {cpu: "1"}}}]
`

  const scheduled = (args: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const path = join(scratch, "min-values.yaml")
      writeFileSync(path, manifest)
      const { run } = recording()
      const { printed, console } = capturing()
      yield* run(["schedule", "-f", path, "-o", "json", ...args]).pipe(Effect.provideService(Console.Console, console))
      return JSON.parse(printed.stdout.join("\n")) as {
        nodeClaims: ReadonlyArray<{ requirements: ReadonlyArray<{ key: string; values: ReadonlyArray<string> }> }>
        unschedulable: ReadonlyArray<{ pod: string; reason: string }>
      }
    })

  it.effect("schedule: Strict (the default) leaves the pod unschedulable; BestEffort launches with fewer types", () =>
    Effect.gen(function* () {
      for (const args of [[], ["--min-values-policy", "Strict"]]) {
        const strict = yield* scheduled(args)
        assert.lengthOf(strict.nodeClaims, 0, args.join(" "))
        assert.include(strict.unschedulable[0]?.reason ?? "", "minValues requirement is not met")
      }
      const relaxed = yield* scheduled(["--min-values-policy", "BestEffort"])
      assert.lengthOf(relaxed.unschedulable, 0)
      const [claim] = relaxed.nodeClaims
      const types = claim?.requirements.find((requirement) => requirement.key === "node.kubernetes.io/instance-type")
      assert.isAbove(types?.values.length ?? 0, 0)
      assert.isBelow(types?.values.length ?? 50, 50)
    })
  )

  it.live("simulate: the policy reaches the simulation's controllers", () =>
    Effect.gen(function* () {
      const given: Array<Controllers.ControllerOptions> = []
      const recordingEnvironment: Simulate.Environment = (_, options) => {
        given.push(options)
        return unbuildable([], options)
      }
      const file = scenarioFile("min-values", "1h")
      yield* simulateWith(["-f", file, "--min-values-policy", "BestEffort"], { simulation: recordingEnvironment })
      yield* simulateWith(["-f", file], { simulation: recordingEnvironment })
      assert.deepStrictEqual(
        given.map((options) => options.minValuesPolicy),
        ["BestEffort", "Strict"]
      )
    })
  )
})
