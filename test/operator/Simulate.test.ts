import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join, relative } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Scheduler from "effect/Scheduler"
import * as AwsWorldApp from "../../layers/app/AwsWorldApp.ts"
import * as Simulation from "../../layers/app/SimulationApp.ts"
import * as Scenario from "../../src/cluster/Scenario.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Simulate from "../../src/operator/Simulate.ts"
import { root } from "../fixtures.ts"
import {
  checkInvariants,
  isScenario,
  parseReport,
  type Report,
  scenarioOf,
  yamlDocuments
} from "../support/SimulateReport.ts"

// -- Running scenarios ----------------------------------------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), "simulate-test-"))
const write = (name: string, text: string): string => {
  const path = join(scratch, name)
  writeFileSync(path, text)
  return path
}

const simulate = (
  files: ReadonlyArray<string>,
  options: {
    readonly output?: "json" | "text"
    readonly instanceTypes?: string
    readonly environment?: Simulate.Environment
  } = {}
) =>
  Simulate.run(options.environment ?? Simulation.environment, {
    files,
    instanceTypes: options.instanceTypes,
    output: options.output ?? "json",
    // As bin.ts: scenarios on EC2NodeClasses (examples/aws/) run on the fake AWS world.
    aws: AwsWorldApp.make
  }).pipe(
    // As the CLI: logs on stderr, warnings only.
    Effect.provideService(Logger.LogToStderr, true),
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provide(NodeServices.layer)
  )

const simulateJson = (files: ReadonlyArray<string>, options?: Parameters<typeof simulate>[1]) =>
  Effect.map(simulate(files, options), parseReport)

const scenarioDocument = (spec: string) =>
  `apiVersion: karpenter-effect.dev/v1alpha1\nkind: Scenario\nmetadata: {name: test}\nspec:\n${spec}\n`

const filesUnder = (directory: string): Array<string> =>
  readdirSync(directory)
    .sort()
    .flatMap((entry) => {
      const path = join(directory, entry)
      return statSync(path).isDirectory() ? filesUnder(path) : /\.(ya?ml|json)$/.test(entry) ? [path] : []
    })

const isEc2NodeClass = (document: unknown) =>
  typeof document === "object" && document !== null && (document as { kind?: unknown }).kind === "EC2NodeClass"

/**
 * Every example with a Scenario document, but the benchmarks' (bench-24h: 24 virtual hours, 2,000 pods; bench-week: 7
 * days, 5,000 pods; bench/) and those on the fake AWS world, which test/examples/AwsExamples.test.ts runs through the
 * CLI against the same contract.
 */
const examples = filesUnder(join(root, "examples"))
  .filter((path) => yamlDocuments(path).some(isScenario) && !yamlDocuments(path).some(isEc2NodeClass))
  .map((path) => relative(root, path))
  .filter((path) => !/^bench-.*\.yaml$/.test(basename(path)))

const snapshotAt = (report: Report, time: number) => {
  const snapshot = report.snapshots.find((candidate) => candidate.time === time)
  assert.isDefined(snapshot, `a snapshot at ${time}`)
  return snapshot!
}

// -- Tests ----------------------------------------------------------------------------------------------------------

describe("simulate", () => {
  it("finds the example scenarios", () => {
    for (const expected of ["demo.yaml", "spot-and-ondemand.yaml", "failing-registration.yaml", "daemonsets.yaml"]) {
      assert.include(examples, join("examples", expected))
    }
  })

  /** What each example is there to show, checked on its report. */
  const showcases: Record<string, (report: Report) => void> = {
    "spot-and-ondemand.yaml": (report) => {
      const busy = snapshotAt(report, 15 * 60)
      assert.deepStrictEqual([...new Set(busy.nodes.map((node) => node.nodePool))].sort(), ["on-demand", "spot"])
      for (const node of busy.nodes) {
        assert.strictEqual(node.capacityType, node.nodePool === "spot" ? "spot" : "on-demand")
      }
      const spot = busy.nodePools.find((pool) => pool.name === "spot")!
      assert.isAtMost(Number(spot.resources.cpu), 16, "within the spot pool's limit")
      assert.deepStrictEqual(busy.pendingPods, [])
      for (const time of [30 * 60, 40 * 60]) {
        const billing = snapshotAt(report, time).nodes.filter((node) =>
          node.pods.some((pod) => pod.startsWith("default/billing-"))
        )
        assert.deepStrictEqual(
          billing.map((node) => node.capacityType),
          ["on-demand"]
        )
      }
    },
    "failing-registration.yaml": (report) => {
      const health = (time: number) => snapshotAt(report, time).nodePools[0]!.conditions.NodeRegistrationHealthy
      const first = snapshotAt(report, 10 * 60)
      assert.strictEqual(first.nodes.length, 0)
      assert.strictEqual(first.nodeClaims[0]?.conditions.Launched, "True")
      assert.strictEqual(first.nodeClaims[0]?.conditions.Registered, "Unknown")
      assert.strictEqual(health(20 * 60), "False")
      const liveness = report.events.filter((event) => event.message.includes("did not register within 15m"))
      assert.isAbove(liveness.length, 0)
      assert.isTrue(liveness.every((event) => event.kind === "NodeClaim" && event.time >= 15 * 60))
      assert.notInclude(
        snapshotAt(report, 20 * 60).nodeClaims.map((claim) => claim.name),
        liveness[0]!.name,
        "the unregistered NodeClaim is gone"
      )
      const end = snapshotAt(report, 60 * 60)
      assert.strictEqual(health(60 * 60), "True")
      assert.deepStrictEqual(end.pendingPods, [])
      assert.isAbove(end.nodes.length, 0)
    },
    "daemonsets.yaml": (report) => {
      const scaled = snapshotAt(report, 20 * 60)
      assert.strictEqual(scaled.nodes.length, 5)
      for (const node of scaled.nodes) {
        const count = (prefix: string) => node.pods.filter((pod) => pod.startsWith(prefix)).length
        assert.strictEqual(count("kube-system/log-agent-"), 1, node.name)
        assert.strictEqual(count("kube-system/node-exporter-"), 1, node.name)
        assert.strictEqual(count("default/ingress-"), 1, node.name)
      }
      for (const time of [30 * 60, 45 * 60]) {
        for (const node of snapshotAt(report, time).nodes) {
          assert.notInclude(node.pods.join(" "), "node-exporter", "deleting the DaemonSet deletes its pods")
          assert.include(node.pods.join(" "), "kube-system/log-agent-", node.name)
        }
      }
    }
  }

  for (const example of examples) {
    it.live(
      `runs ${example}: the contract's JSON, field for field`,
      () =>
        Effect.gen(function* () {
          const report = yield* simulateJson([join(root, example)])
          checkInvariants(report, yield* scenarioOf(example))
          showcases[basename(example)]?.(report)
        }),
      60_000
    )
  }

  it.live(
    "is deterministic: the same scenario twice gives the same bytes",
    () =>
      Effect.gen(function* () {
        // Random names, spread, scale-up and down, consolidation: everything that could depend on scheduling order.
        const file = write(
          "determinism.yaml",
          `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
spec: {nodeRegistrationDelay: 30s}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.kwok.sh/instance-cpu, operator: In, values: ["1", "2", "4"]}
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 30s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers: [{name: web, image: web, resources: {requests: {cpu: 700m, memory: 256Mi}}}]
---
${scenarioDocument(`  duration: 25m
  steps:
    - at: 2m
      scale: {kind: Deployment, name: web, replicas: 9}
    - at: 8m
      scale: {kind: Deployment, name: web, replicas: 2}`)}`
        )
        const first = yield* simulate([file])
        assert.strictEqual(yield* simulate([file]), first)
        const report = parseReport(first)
        assert.isAbove(report.summary.nodesLaunched, 3)
        assert.include(Simulate.toText(report), "Summary: ")
        // Which fibers run first at one virtual instant must not depend on how many operations the code takes: with
        // the runtime cutting each fiber's run after 64 operations, not 2,048, the bytes are the same.
        assert.strictEqual(yield* simulate([file]).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, 64)), first)
      }),
    60_000
  )

  it.live(
    "takes a snapshot before each step (in time order, steps past the end never run) and one at the end",
    () =>
      Effect.gen(function* () {
        const pod = (name: string) =>
          `{apiVersion: v1, kind: Pod, metadata: {name: ${name}}, spec: {containers: [{name: c, image: c}]}}`
        const file = write(
          "steps.yaml",
          scenarioDocument(`  duration: 30m
  start: "2026-03-01T12:00:00Z"
  steps:
    - at: 10m
      apply: [${pod("b")}]
    - at: 90s
      apply: [${pod("a")}]
    - at: 10m
      delete: [{kind: Pod, name: a}]
    - at: 3h
      scale: {kind: Deployment, name: does-not-exist, replicas: 1}`)
        )
        const report = yield* simulateJson([file])
        assert.deepStrictEqual(
          report.snapshots.map((snapshot) => [snapshot.time, snapshot.pendingPods]),
          [
            [90, []],
            [600, ["default/a"]],
            [600, ["default/a", "default/b"]],
            [1800, ["default/b"]]
          ]
        )
        assert.deepStrictEqual(report.summary, { nodesLaunched: 0, nodesTerminated: 0, costUSD: 0, peakNodes: 0 })
      }),
    30_000
  )

  /** The simulation environment, plus what the cluster's clock and objects looked like. */
  const observed = () => {
    const seen = { builtAt: 0, created: new Map<string, string>() }
    const environment: Simulate.Environment = (catalogue) =>
      Layer.effectDiscard(
        Effect.gen(function* () {
          const kube = yield* KubeClient
          seen.builtAt = yield* Clock.currentTimeMillis
          yield* Effect.addFinalizer(() =>
            kube.list(Resources.Pods).pipe(
              Effect.tap((list) =>
                Effect.sync(() => {
                  for (const pod of list.items) {
                    seen.created.set(pod.metadata.name ?? "", pod.metadata.creationTimestamp ?? "")
                  }
                })
              ),
              Effect.orDie
            )
          )
        })
      ).pipe(Layer.provideMerge(Simulation.environment(catalogue)))
    return { seen, environment }
  }
  const startScenario = (start: string) =>
    `apiVersion: v1
kind: Pod
metadata: {name: first}
spec: {containers: [{name: c, image: c}]}
---
${scenarioDocument(`  duration: 10m${start}
  steps:
    - at: 90s
      apply: [{apiVersion: v1, kind: Pod, metadata: {name: later}, spec: {containers: [{name: c, image: c}]}}]`)}`

  it.live("runs the cluster's clock from spec.start", () =>
    Effect.gen(function* () {
      const { seen, environment } = observed()
      yield* simulateJson([write("start.yaml", startScenario(`\n  start: "2030-06-15T08:30:00+02:00"`))], {
        environment
      })
      assert.strictEqual(seen.builtAt, Date.parse("2030-06-15T06:30:00Z"))
      assert.strictEqual(seen.created.get("first"), "2030-06-15T06:30:00Z")
      assert.strictEqual(seen.created.get("later"), "2030-06-15T06:31:30Z")
    })
  )

  it.live("starts at 2026-01-01T00:00:00Z without spec.start", () =>
    Effect.gen(function* () {
      const { seen, environment } = observed()
      yield* simulateJson([write("default-start.yaml", startScenario(""))], { environment })
      assert.strictEqual(seen.builtAt, Date.parse(Scenario.defaultStart))
      assert.strictEqual(seen.created.get("first"), "2026-01-01T00:00:00Z")
      assert.strictEqual(seen.created.get("later"), "2026-01-01T00:01:30Z")
    })
  )

  it.live("records no call sites while it runs, and restores the stack trace limit after", () =>
    Effect.gen(function* () {
      const before = Error.stackTraceLimit
      Error.stackTraceLimit = 7
      let during: number | undefined
      const { environment } = observed()
      const watching: Simulate.Environment = (instanceTypes, options) =>
        Layer.tap(environment(instanceTypes, options), () =>
          Effect.sync(() => {
            during = Error.stackTraceLimit
          })
        )
      yield* simulateJson([write("call-sites.yaml", startScenario(""))], { environment: watching }).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            const after = Error.stackTraceLimit
            Error.stackTraceLimit = before
            assert.strictEqual(after, 7)
          })
        )
      )
      assert.strictEqual(during, 0)
    })
  )

  it.live("costs Σ node-hours × offering price", () =>
    Effect.gen(function* () {
      // Two offerings of one instance type, priced for arithmetic by hand.
      const catalogue = write(
        "catalogue.json",
        JSON.stringify([
          {
            name: "tiny",
            architecture: "amd64",
            operatingSystems: ["linux"],
            cpu: 1,
            memory: "2Gi",
            pods: 16,
            offerings: [
              { zone: "z1", capacityType: "on-demand", price: 0.5, available: true },
              { zone: "z1", capacityType: "spot", price: 0.2, available: true }
            ]
          }
        ])
      )
      const node = (name: string, capacityType: string, finalizer = false) => `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  labels:
    node.kubernetes.io/instance-type: tiny
    topology.kubernetes.io/zone: z1
    karpenter.sh/capacity-type: ${capacityType}${finalizer ? "\n  finalizers: [example.com/hold]" : ""}
status:
  capacity: {cpu: "1", memory: 2Gi, pods: "16"}
  allocatable: {cpu: "1", memory: 2Gi, pods: "16"}
---
`
      const file = write(
        "cost.yaml",
        node("on-demand-1", "on-demand") +
          node("spot-1", "spot") +
          node("held", "spot", true) +
          scenarioDocument(`  duration: 2h
  steps:
    - at: 30m
      delete: [{kind: Node, name: held}]
    - at: 90m
      delete: [{kind: Node, name: on-demand-1}]`)
      )
      const report = yield* simulateJson([file], { instanceTypes: catalogue })
      // on-demand-1: 1.5 h × $0.5; spot-1: 2 h × $0.2; held (deleting, never removed): 2 h × $0.2.
      assert.closeTo(report.summary.costUSD, 1.5 * 0.5 + 2 * 0.2 + 2 * 0.2, 1e-6)
      assert.strictEqual(report.summary.nodesTerminated, 1)
      assert.strictEqual(report.summary.peakNodes, 3)
      const afterHold = snapshotAt(report, 90 * 60).nodes
      assert.deepStrictEqual(
        afterHold.map((entry) => [entry.name, entry.deleting ?? false, entry.instanceType, entry.capacityType]),
        [
          ["held", true, "tiny", "spot"],
          ["on-demand-1", false, "tiny", "on-demand"],
          ["spot-1", false, "tiny", "spot"]
        ]
      )
      assert.deepStrictEqual(
        snapshotAt(report, 2 * 3600).nodes.map((entry) => entry.name),
        ["held", "spot-1"]
      )
    })
  )

  it.live(
    "prices a node Karpenter launched from its launch to the end",
    () =>
      Effect.gen(function* () {
        const file = write(
          "launched.yaml",
          `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
spec: {nodeRegistrationDelay: 30s}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: tiny}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: node.kubernetes.io/instance-type, operator: In, values: [c-1x-amd64-linux]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: topology.kubernetes.io/zone, operator: In, values: [test-zone-a]}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: c, resources: {requests: {cpu: 500m, memory: 256Mi}}}]
---
${scenarioDocument("  duration: 1h")}`
        )
        const report = yield* simulateJson([file])
        const [end] = report.snapshots
        assert.deepStrictEqual(
          end!.nodes.map(({ name: _name, ...node }) => node),
          [
            {
              nodePool: "tiny",
              instanceType: "c-1x-amd64-linux",
              zone: "test-zone-a",
              capacityType: "on-demand",
              pods: ["default/p"]
            }
          ]
        )
        const claim = end!.nodeClaims[0]!
        assert.strictEqual(claim.name, end!.nodes[0]!.name)
        for (const condition of ["Launched", "Registered", "Initialized", "Ready"]) {
          assert.strictEqual(claim.conditions[condition], "True", condition)
        }
        assert.deepStrictEqual([end!.nodePools[0]!.resources.cpu, end!.nodePools[0]!.resources.nodes], ["1", "1"])
        assert.deepStrictEqual(
          report.events.map((event) => [event.time, event.reason, event.kind, event.name, event.message])[0],
          [1, "Nominated", "Pod", "p", `Pod should schedule on: nodeclaim/${claim.name}`],
          "the provisioner's batch closes 1 s after the pod"
        )
        // The node exists from registration (30 s after launch, which is within a few seconds of t=0) to the end.
        const price = 0.0271474836
        assert.isAtMost(report.summary.costUSD, price * ((3600 - 30) / 3600))
        assert.isAtLeast(report.summary.costUSD, price * ((3600 - 60) / 3600))
        assert.deepStrictEqual(
          [report.summary.nodesLaunched, report.summary.nodesTerminated, report.summary.peakNodes],
          [1, 0, 1]
        )
      }),
    30_000
  )

  it.live(
    "does not consolidate the nodes of a NodePool whose template annotates them karpenter.sh/do-not-disrupt",
    () =>
      Effect.gen(function* () {
        // Two NodePools alike but for the annotation, each with its own Deployment; both scaled to 0 at 5m.
        const nodePool = (name: string, annotations: string) => `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: ${name}}
spec:
  template:
    metadata: {annotations: {${annotations}}}
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements: [{key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}]
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 30s}
`
        const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      nodeSelector: {karpenter.sh/nodepool: ${name}}
      containers: [{name: app, image: app, resources: {requests: {cpu: "1", memory: 1Gi}}}]
`
        const file = write(
          "do-not-disrupt.yaml",
          [
            "apiVersion: karpenter.kwok.sh/v1alpha1\nkind: KWOKNodeClass\nmetadata: {name: default}\nspec: {}\n",
            nodePool("guarded", `karpenter.sh/do-not-disrupt: "true"`),
            nodePool("open", `example.com/team: web`),
            deployment("guarded"),
            deployment("open"),
            scenarioDocument(`  duration: 20m
  steps:
    - at: 5m
      scale: {kind: Deployment, name: guarded, replicas: 0}
    - at: 5m
      scale: {kind: Deployment, name: open, replicas: 0}`)
          ].join("---\n")
        )
        const report = yield* simulateJson([file])
        const poolsOf = (time: number) => [...new Set(snapshotAt(report, time).nodes.map((node) => node.nodePool))]
        assert.deepStrictEqual(poolsOf(5 * 60).sort(), ["guarded", "open"])
        const guarded = snapshotAt(report, 5 * 60)
          .nodes.filter((node) => node.nodePool === "guarded")
          .map((node) => node.name)
        const end = snapshotAt(report, 20 * 60)
        assert.deepStrictEqual(
          end.nodes.map((node) => node.name),
          guarded,
          "the open NodePool's empty nodes go, the guarded ones stay"
        )
        assert.deepStrictEqual(
          end.nodes.map((node) => node.pods.length),
          guarded.map(() => 0),
          "although empty"
        )
        assert.isAbove(report.disruptions.length, 0)
        for (const disruption of report.disruptions) {
          assert.strictEqual(disruption.reason, "Empty")
          for (const candidate of disruption.candidates) assert.notInclude(guarded, candidate)
        }
      }),
    60_000
  )

  it.live(
    "reports why a node cannot be consolidated: which pods would not reschedule, and why",
    () =>
      Effect.gen(function* () {
        // web selects tier=gold, which the NodePool stops giving new nodes at 5m: its node (drifted, and underused once
        // batch is gone) cannot go, and Karpenter names the pod that keeps it and the reason.
        const file = write(
          "unconsolidatable.yaml",
          `apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
spec: {nodeRegistrationDelay: 30s}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    metadata: {labels: {tier: gold}}
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.kwok.sh/instance-cpu, operator: In, values: ["1", "2", "4"]}
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 30s}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeSelector: {tier: gold}
  containers: [{name: web, image: web, resources: {requests: {cpu: 500m, memory: 256Mi}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: batch}
spec:
  containers: [{name: batch, image: batch, resources: {requests: {cpu: "3", memory: 256Mi}}}]
---
${scenarioDocument(`  duration: 25m
  steps:
    - at: 5m
      patch: {kind: NodePool, name: default, merge: {spec: {template: {metadata: {labels: {tier: silver}}}}}}
    - at: 5m
      delete: [{kind: Pod, name: batch}]`)}`
        )
        const report = yield* simulateJson([file])
        const [node] = snapshotAt(report, 5 * 60).nodes
        assert.deepStrictEqual(node?.pods, ["default/batch", "default/web"])
        assert.deepStrictEqual(
          snapshotAt(report, 25 * 60).nodes.map((entry) => entry.name),
          [node!.name],
          "the node stays"
        )
        const why = (reason: string) =>
          report.events
            .filter((event) => event.reason === reason && event.name === node!.name)
            .map((event) => `${event.kind}: ${event.message}`)
        const message =
          'Not all pods would schedule, default/web => incompatible with nodepool "default": key tier, tier In [gold] not in tier In [silver] '
        assert.deepStrictEqual(why("Unconsolidatable"), [
          // Before 5m batch needs the node's size.
          "Node: can't replace with a cheaper node",
          "NodeClaim: can't replace with a cheaper node",
          // Upstream's recorder drops a node's Unconsolidatable repeats for 15 minutes, whatever they say.
          `Node: ${message}`,
          `NodeClaim: ${message}`
        ])
        const first = report.events.find((event) => event.reason === "Unconsolidatable")!.time
        const second = report.events.find(
          (event) => event.reason === "Unconsolidatable" && event.message === message
        )!.time
        assert.isAtLeast(second - first, 15 * 60)
        // Drift says the same.
        assert.includeMembers(why("DisruptionBlocked"), [`Node: ${message}`, `NodeClaim: ${message}`])
      }),
    30_000
  )

  describe("rejects an invalid scenario with InvalidInput in one line", () => {
    const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web}]}
---
`
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>, string]> = [
      ["bad YAML", [["bad.yaml", scenarioDocument("  duration: 1h\n  steps: [ {at: 1m")]], "YAML syntax error"],
      [
        "an unknown step kind",
        [
          [
            "unknown-step.yaml",
            deployment +
              scenarioDocument("  duration: 1h\n  steps:\n    - at: 1m\n      restart: {kind: Deployment, name: web}")
          ]
        ],
        "spec.steps[0].restart: Expected no excess property"
      ],
      [
        "an unknown key next to a valid action (it used to be dropped silently)",
        [
          [
            "extra-key.yaml",
            deployment +
              scenarioDocument(
                "  duration: 1h\n  steps:\n    - at: 1m\n      restart: {kind: Deployment, name: web}\n      scale: {kind: Deployment, name: web, replicas: 2}"
              )
          ]
        ],
        "spec.steps[0].restart: Expected no excess property"
      ],
      [
        "a step with two actions",
        [
          [
            "two-actions.yaml",
            deployment +
              scenarioDocument(
                "  duration: 1h\n  steps:\n    - at: 1m\n      delete: [{kind: Deployment, name: web}]\n      scale: {kind: Deployment, name: web, replicas: 2}"
              )
          ]
        ],
        "spec.steps[0]: a step needs exactly one of apply, delete, scale, patch (found delete, scale)"
      ],
      [
        "an unknown object kind",
        [
          [
            "unknown-kind.yaml",
            `apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n---\n${scenarioDocument("  duration: 1h")}`
          ]
        ],
        "document 1: unknown kind v1 Gizmo"
      ],
      [
        "an unknown object kind in a step",
        [
          [
            "unknown-kind-step.yaml",
            scenarioDocument(
              "  duration: 1h\n  steps:\n    - at: 1m\n      apply: [{apiVersion: v1, kind: Gizmo, metadata: {name: g}}]"
            )
          ]
        ],
        "step 1 (at 1m): unknown kind v1 Gizmo"
      ],
      [
        "a late step naming an unknown kind (refused before the run starts, naming the step)",
        [
          [
            "unknown-kind-late-step.yaml",
            deployment +
              scenarioDocument(
                "  duration: 24h\n  steps:\n    - at: 1m\n      scale: {kind: Deployment, name: web, replicas: 2}\n    - at: 23h\n      delete: [{kind: Gizmo, name: g}]"
              )
          ]
        ],
        "step 2 (at 23h): unknown kind Gizmo"
      ],
      [
        "an object kube-apiserver would refuse (a negative request)",
        [
          [
            "negative.yaml",
            deployment.replace("image: web}", 'image: web, resources: {requests: {cpu: "-1"}}}') +
              scenarioDocument("  duration: 1h")
          ]
        ],
        'negative.yaml: document 1: invalid Deployment "default/web": spec.template.spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0'
      ],
      [
        "a late step applying an invalid object (refused before the run starts, naming the step and the field)",
        [
          [
            "invalid-late-step.yaml",
            deployment +
              scenarioDocument(
                "  duration: 24h\n  steps:\n    - at: 23h\n      apply: [{apiVersion: v1, kind: Pod, metadata: {name: BadName}, spec: {containers: [{name: app}]}}]"
              )
          ]
        ],
        'step 1 (at 23h): invalid Pod "BadName": metadata.name: Invalid value: "BadName"'
      ],
      [
        "a step applying an object with a misspelt field",
        [
          [
            "typo-step.yaml",
            scenarioDocument(
              "  duration: 1h\n  steps:\n    - at: 1m\n      apply: [{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: app, resource: {}}]}}]"
            )
          ]
        ],
        'step 1 (at 1m): invalid Pod "p": strict decoding error: unknown field "spec.containers[0].resource"'
      ],
      [
        "a step scaling a Deployment that does not exist",
        [
          [
            "missing-object.yaml",
            deployment +
              scenarioDocument(
                "  duration: 1h\n  steps:\n    - at: 10m\n      scale: {kind: Deployment, name: api, replicas: 2}"
              )
          ]
        ],
        'step 1 (at 10m): deployments.apps "api" not found'
      ],
      ["a bad duration", [["bad-duration.yaml", scenarioDocument("  duration: soon")]], "spec.duration: must be"],
      [
        "no Scenario document",
        [["no-scenario.yaml", deployment]],
        "no Scenario document (karpenter-effect.dev/v1alpha1, kind Scenario)"
      ],
      [
        "two Scenario documents",
        [["two-scenarios.yaml", `${scenarioDocument("  duration: 1h")}---\n${scenarioDocument("  duration: 2h")}`]],
        "two-scenarios.yaml: document 2: more than one Scenario"
      ],
      [
        "two Scenario documents in two files",
        [
          ["scenario-1.yaml", scenarioDocument("  duration: 1h")],
          ["scenario-2.yaml", scenarioDocument("  duration: 2h")]
        ],
        "scenario-2.yaml: document 1: more than one Scenario"
      ]
    ]
    for (const [what, files, message] of cases) {
      it.live(`${what}`, () =>
        Effect.gen(function* () {
          const error = yield* Effect.flip(simulate(files.map(([name, text]) => write(name, text))))
          assert.strictEqual(error._tag, "InvalidInput")
          assert.include(error.message, message)
          assert.notInclude(error.message, "\n")
        })
      )
    }
  })
})
