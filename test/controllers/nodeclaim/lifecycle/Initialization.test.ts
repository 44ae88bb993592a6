/**
 * The Initialization step on its own (upstream `lifecycle/initialization.go`): what keeps a registered NodeClaim from
 * being initialized (Node readiness, startup taints, known ephemeral taints, requested resources), and what
 * initializing it writes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { Node } from "../../../../src/api/Node.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Initialization from "../../../../src/controllers/nodeclaim/lifecycle/Initialization.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as S from "../../support.ts"
import * as L from "./support.ts"

const agent = { key: "example.com/agent-not-ready", effect: "NoSchedule" } as const
const notReady = { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" } as const

const claimRequesting = (requests: Record<string, string>) =>
  ({
    metadata: { name: "claim" },
    spec: { requirements: [], startupTaints: [agent], resources: { requests } }
  }) as unknown as NodeClaim

const nodeWith = (options: {
  readonly ready?: boolean
  readonly taints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
  readonly allocatable?: Record<string, string>
}) =>
  ({
    metadata: { name: "node" },
    spec: { taints: options.taints ?? [] },
    status: {
      allocatable: options.allocatable ?? { cpu: "4", memory: "16Gi", pods: "110" },
      conditions: [{ type: "Ready", status: (options.ready ?? true) ? "True" : "False" }]
    }
  }) as unknown as Node

describe("Initialization.pending", () => {
  const claim = claimRequesting({ cpu: "1" })

  it("a Ready Node without startup or ephemeral taints and with every requested resource is initialized", () => {
    assert.isUndefined(Initialization.pending(claim, nodeWith({})))
  })

  it("a Node not Ready waits, before anything else is looked at", () => {
    assert.deepStrictEqual(Initialization.pending(claim, nodeWith({ ready: false, taints: [agent] })), {
      reason: ConditionTypes.NodeNotReady,
      message: "Node status is NotReady"
    })
  })

  it("a startup taint still on the Node waits, whatever its value", () => {
    assert.deepStrictEqual(Initialization.pending(claim, nodeWith({ taints: [{ ...agent, value: "x" }, notReady] })), {
      reason: ConditionTypes.StartupTaintsExist,
      message: `StartupTaint "${agent.key}" still exists`
    })
  })

  it("a known ephemeral taint waits", () => {
    assert.deepStrictEqual(Initialization.pending(claim, nodeWith({ taints: [notReady] })), {
      reason: ConditionTypes.KnownEphemeralTaintsExist,
      message: `KnownEphemeralTaint "${notReady.key}" still exists`
    })
  })

  it("a requested resource not allocatable yet (absent or zero) waits; one requested at zero does not", () => {
    const gpu = claimRequesting({ cpu: "1", "nvidia.com/gpu": "1" })
    const waiting = {
      reason: ConditionTypes.ResourceNotRegistered,
      message: `Resource "nvidia.com/gpu" was requested but not registered`
    }
    assert.deepStrictEqual(Initialization.pending(gpu, nodeWith({})), waiting)
    assert.deepStrictEqual(
      Initialization.pending(gpu, nodeWith({ allocatable: { cpu: "4", "nvidia.com/gpu": "0" } })),
      waiting
    )
    assert.isUndefined(Initialization.pending(gpu, nodeWith({ allocatable: { cpu: "4", "nvidia.com/gpu": "1" } })))
    const none = claimRequesting({ cpu: "1", "nvidia.com/gpu": "0" })
    assert.isUndefined(Initialization.pending(none, nodeWith({ allocatable: { cpu: "4" } })))
  })
})

const initializedOf = (claim: NodeClaim) => Conditions.get(claim.status?.conditions, ConditionTypes.Initialized)

describe("Initialization step", () => {
  it.effect("waits for the startup taint to go, then labels the Node and sets Initialized=True", () =>
    L.run(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        const manifest = S.nodeClaim("claim")
        const registered = yield* L.registeredClaim(
          { ...manifest, spec: { ...manifest.spec, startupTaints: [agent] } },
          "node"
        )
        const initialization = Initialization.make(yield* L.deps)

        // Registration put the startup taint on the Node.
        const waiting = L.expectTag(yield* initialization(registered), "Stop")
        assert.deepStrictEqual(waiting.result, Result.done)
        const pending = initializedOf(waiting.claim)
        assert.deepStrictEqual([pending?.status, pending?.reason], ["Unknown", ConditionTypes.StartupTaintsExist])

        // The agent is up: it removes its taint.
        yield* kube.patch(Resources.Nodes, "node", { type: "merge", patch: { spec: { taints: [] } } })
        const initialized = L.expectTag(yield* initialization(waiting.claim), "Stop")
        assert.strictEqual(initializedOf(initialized.claim)?.status, "True")
        assert.isTrue(Conditions.isTrue(initialized.claim.status?.conditions, ConditionTypes.Ready))
        const [node] = yield* S.listNodes
        assert.strictEqual(node?.metadata.labels?.[Labels.NodeInitialized], "true")

        // Initialized: the step has nothing more to do.
        assert.deepStrictEqual(yield* initialization(initialized.claim), { _tag: "Continue", claim: initialized.claim })
      })
    )
  )

  it.effect("a NodeClaim not Registered yet continues, untouched", () =>
    L.run(
      Effect.gen(function* () {
        const launched = yield* L.launchedClaim(S.nodeClaim("claim"))
        assert.deepStrictEqual(yield* Initialization.make(yield* L.deps)(launched), {
          _tag: "Continue",
          claim: launched
        })
        assert.strictEqual(
          (yield* S.findNodeClaim("claim"))?.metadata.resourceVersion,
          launched.metadata.resourceVersion
        )
      })
    )
  )
})
