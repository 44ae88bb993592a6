/**
 * The AWS examples (examples/aws/) through the command line as bin.ts runs it: `simulate` and `schedule` on an input
 * with an EC2NodeClass run the AWS provider on the fake AWS world, and show EC2 instance types and prices.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as AwsWorldApp from "../../layers/app/AwsWorldApp.ts"
import * as Simulation from "../../layers/app/SimulationApp.ts"
import * as Cli from "../../src/operator/Cli.ts"
import { root } from "../fixtures.ts"
import { checkInvariants, parseReport, scenarioOf } from "../support/SimulateReport.ts"

/** The EC2 instance types of the dataset the fake world serves. */
const ec2Types = new Set(AwsWorldApp.dataset().map((record) => record.name))

/** `node dist/bin.js <args>`: the same environment as bin.ts; what it printed, or the one-line error. */
const cli = (args: ReadonlyArray<string>) => {
  const stdout: Array<string> = []
  const console: Console.Console = { ...globalThis.console, log: (...parts) => void stdout.push(parts.join(" ")) }
  const environment: Cli.Environment<never> = {
    simulation: Simulation.environment,
    aws: AwsWorldApp.make,
    controller: () => Effect.void,
    dev: () => Effect.void,
    cluster: () => Layer.empty as never,
    env: {}
  }
  return Cli.run(environment)(args).pipe(
    Effect.map(() => stdout.join("\n")),
    Effect.provideService(Console.Console, console),
    Effect.provideService(Logger.LogToStderr, true),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer)
  )
}

const example = (name: string) => join(root, "examples", "aws", name)

/** `simulate -o json` of a scenario file through the CLI, checked against the contract and its invariants. */
const simulated = (file: string, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const json = yield* cli(["simulate", "-f", file, "-o", "json", ...extra])
    const report = parseReport(json)
    checkInvariants(report, yield* scenarioOf(relative(root, file)))
    return { json, report }
  })

// A run takes a few seconds of CPU; the margin is for a loaded machine.
const timeout = 120_000

describe("AWS examples", () => {
  it.live(
    "simulate examples/aws/scale-and-consolidate.yaml runs to the end on EC2 types",
    () =>
      Effect.gen(function* () {
        const { report } = yield* simulated(example("scale-and-consolidate.yaml"))
        assert.strictEqual(report.snapshots.at(-1)?.time, 3 * 3600, "ran to the end")
        const nodes = report.snapshots.flatMap((snapshot) => snapshot.nodes)
        assert.isAbove(nodes.length, 0)
        for (const node of nodes) {
          assert.isTrue(ec2Types.has(node.instanceType), `${node.name} runs an EC2 type: ${node.instanceType}`)
          assert.match(node.name, /^ip-10-0-\d+-\d+\.us-east-1\.compute\.internal$/)
          assert.match(node.zone, /^us-east-1[abc]$/)
          assert.strictEqual(node.capacityType, "on-demand")
        }
        // The peak needs eight nodes (one web replica each), and every pod is placed.
        const peak = report.snapshots.find((snapshot) => snapshot.time === 90 * 60)
        assert.strictEqual(peak?.nodes.length, 8)
        assert.deepStrictEqual(peak?.pendingPods, [])
        // The evening's scale-down is consolidated away.
        const reasons = report.disruptions.map((disruption) => disruption.reason)
        assert.include(reasons, "Empty")
        assert.include(reasons, "Underutilized")
        assert.isBelow(report.snapshots.at(-1)?.nodes.length ?? 0, 8)
        assert.isAbove(report.summary.costUSD, 0, "priced at the dataset's prices")
        // The NodeClaims went through the EC2 lifecycle: launched by CreateFleet, registered by their kubelets.
        const claims = report.snapshots.at(-1)?.nodeClaims ?? []
        assert.isAbove(claims.length, 0)
        for (const claim of claims) {
          assert.include(claim.conditions, { Launched: "True", Registered: "True", Initialized: "True" })
        }
      }),
    timeout
  )

  it.live(
    "simulate examples/aws/drift.yaml: a pinned AMI release drifts every node; each is replaced, one at a time; twice the same",
    () =>
      Effect.gen(function* () {
        const { json: first, report } = yield* simulated(example("drift.yaml"))
        // Deterministic on the fake AWS world too (instance ids, addresses, fleets): the same bytes twice.
        const { json: second } = yield* simulated(example("drift.yaml"))
        assert.strictEqual(first, second, "deterministic")
        const [before, after] = report.snapshots
        assert.lengthOf(before?.nodes ?? [], 4)
        assert.deepStrictEqual(
          report.disruptions.map((disruption) => [disruption.reason, disruption.candidates.length]),
          [1, 2, 3, 4].map(() => ["Drifted", 1])
        )
        assert.sameMembers(
          report.disruptions.flatMap((disruption) => disruption.candidates),
          (before?.nodes ?? []).map((node) => node.name)
        )
        // One at a time: each starts after the previous replacement launched, registered and the old node drained.
        const times = report.disruptions.map((disruption) => disruption.time)
        for (let i = 1; i < times.length; i++) assert.isAbove(times[i]! - times[i - 1]!, 30, `disruption ${i}`)
        assert.lengthOf(after?.nodes ?? [], 4)
        for (const node of after?.nodes ?? []) {
          assert.notInclude(
            (before?.nodes ?? []).map((old) => old.name),
            node.name
          )
          assert.isTrue(ec2Types.has(node.instanceType), node.instanceType)
        }
        assert.deepStrictEqual(after?.pendingPods, [])
        for (const claim of after?.nodeClaims ?? []) assert.notProperty(claim.conditions, "Drifted")
      }),
    timeout
  )

  it.live(
    "simulate examples/node-repair.yaml: the NotReady node is repaired 30 minutes later and replaced; not with the gate off",
    () =>
      Effect.gen(function* () {
        const sick = "ip-10-0-0-4.us-east-1.compute.internal"
        const file = join(root, "examples", "node-repair.yaml")
        const { report } = yield* simulated(file)
        const [before, after] = report.snapshots
        assert.include(
          (before?.nodes ?? []).map((node) => node.name),
          sick
        )
        assert.deepStrictEqual(report.disruptions, [
          { time: 40 * 60, reason: "Unhealthy", candidates: [sick], replacements: [] }
        ])
        assert.notInclude(
          (after?.nodes ?? []).map((node) => node.name),
          sick
        )
        assert.lengthOf(after?.nodes ?? [], 5, "a replacement runs the web replica")
        assert.deepStrictEqual(after?.pendingPods, [])

        // The flag wins over the scenario's spec.featureGates.
        const { report: off } = yield* simulated(file, ["--feature-gates", "NodeRepair=false"])
        assert.deepStrictEqual(off.disruptions, [])
        assert.include(
          (off.snapshots.at(-1)?.nodes ?? []).map((node) => node.name),
          sick
        )
      }),
    timeout
  )

  it.live(
    "schedule examples/aws/schedule.yaml: NodeClaims on EC2 types with us-east-1 prices; the GPU pod cannot fit",
    () =>
      Effect.gen(function* () {
        const json = JSON.parse(yield* cli(["schedule", "-f", example("schedule.yaml"), "-o", "json"])) as {
          nodeClaims: Array<{
            nodePool: string
            instanceTypes: Array<string>
            pods: Array<string>
            launch: { instanceType: string; zone: string; capacityType: string; price: number } | null
          }>
          existingNodes: Array<unknown>
          unschedulable: Array<{ pod: string; reason: string }>
        }
        const placed = json.nodeClaims.flatMap((claim) => claim.pods)
        assert.sameMembers(placed, ["default/graviton-batch", "default/web-1", "default/web-2"])
        for (const claim of json.nodeClaims) {
          assert.strictEqual(claim.nodePool, "general")
          for (const type of claim.instanceTypes) assert.isTrue(ec2Types.has(type), type)
          const launch = claim.launch
          assert.isNotNull(launch)
          assert.strictEqual(launch?.instanceType, claim.instanceTypes[0])
          assert.strictEqual(launch?.capacityType, "on-demand")
          assert.match(launch?.zone ?? "", /^us-east-1[abc]$/)
          const record = AwsWorldApp.dataset().find((candidate) => candidate.name === launch?.instanceType)
          assert.strictEqual(launch?.price, record?.onDemandPriceUSD, "the dataset's on-demand price")
        }
        // The arm64 pod's NodeClaim is on Graviton.
        const graviton = json.nodeClaims.find((claim) => claim.pods.includes("default/graviton-batch"))
        assert.match(graviton?.launch?.instanceType ?? "", /^[a-z]+\d+g[a-z]*\./)
        assert.deepStrictEqual(
          json.unschedulable.map((entry) => entry.pod),
          ["default/needs-a-gpu"]
        )
      }),
    timeout
  )

  it.live(
    "schedule: an EC2NodeClass whose subnet selector finds nothing leaves its NodePool out, with the reason",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "aws-examples-"))
        const elsewhere = join(dir, "elsewhere.yaml")
        writeFileSync(
          elsewhere,
          readFileSync(example("schedule.yaml"), "utf8").replace(
            "subnetSelectorTerms:\n    - tags: { karpenter.sh/discovery: simulation }",
            "subnetSelectorTerms:\n    - tags: { karpenter.sh/discovery: elsewhere }"
          )
        )
        const json = JSON.parse(yield* cli(["schedule", "-f", elsewhere, "-o", "json"])) as {
          nodeClaims: Array<unknown>
          unschedulable: Array<{ pod: string; reason: string }>
        }
        assert.deepStrictEqual(json.nodeClaims, [])
        assert.lengthOf(json.unschedulable, 4)
        for (const { reason } of json.unschedulable) {
          assert.include(reason, 'nodepool "general" is not ready: EC2NodeClass "default"')
          assert.include(reason, "SubnetsReady=False")
        }
      })
  )

  it.live("an input mixing EC2NodeClass and KWOKNodeClass is one line, and so is a KWOK catalogue for EC2", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "aws-examples-"))
      const kwok = join(dir, "kwok.yaml")
      writeFileSync(
        kwok,
        "apiVersion: karpenter.kwok.sh/v1alpha1\nkind: KWOKNodeClass\nmetadata:\n  name: default\nspec: {}\n"
      )
      const mixed = yield* Effect.flip(cli(["schedule", "-f", example("schedule.yaml"), "-f", kwok]))
      assert.strictEqual(mixed._tag, "InvalidInput")
      assert.include(mixed.message, "mixes EC2NodeClass and KWOKNodeClass")
      const catalogue = yield* Effect.flip(
        cli([
          "schedule",
          "-f",
          example("schedule.yaml"),
          "--instance-types",
          join(root, "data", "kwok-instance-types.json")
        ])
      )
      assert.strictEqual(catalogue._tag, "InvalidInput")
      assert.include(catalogue.message, "--instance-types")
      assert.notInclude(catalogue.message, "\n")
    })
  )
})
