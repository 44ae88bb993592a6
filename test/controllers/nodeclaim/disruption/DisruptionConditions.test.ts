import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Fake from "../../../../layers/cloudprovider/fake/FakeCloudProvider.ts"
import * as FakeInstanceTypes from "../../../../layers/cloudprovider/fake/InstanceTypes.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as NodePoolApi from "../../../../src/api/NodePool.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as Disruption from "../../../../src/controllers/nodeclaim/disruption/DisruptionConditions.ts"
import * as PodEvents from "../../../../src/controllers/nodeclaim/podevents/PodEvents.ts"
import * as Hash from "../../../../src/controllers/nodepool/hash/Hash.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { nodePool } from "../../support.ts"
import {
  advance,
  conditionOf,
  createNode,
  createNodeClaim,
  createNodePool,
  createPod,
  getNodeClaim,
  launchedLabels,
  patchNodeClaimStatus,
  patchNodePool,
  run,
  settle,
  trueConditions,
  zoneRequirement
} from "./support.ts"

const { Consolidatable, Drifted, Initialized, Launched, Registered } = ConditionTypes

/** A NodeClaim launched (and, unless told otherwise, registered and initialized) now, with providerID fake://<name>. */
const launched = (
  name: string,
  options: { readonly annotations?: Record<string, string>; readonly initialized?: boolean } = {}
) =>
  Effect.gen(function* () {
    yield* createNodeClaim(name, options.annotations === undefined ? {} : { annotations: options.annotations })
    const types = options.initialized === false ? [Launched] : [Launched, Registered, Initialized]
    yield* patchNodeClaimStatus(name, { providerID: `fake://${name}`, conditions: yield* trueConditions(types) })
  })

const hashAnnotations = (hash: string) => ({
  [Labels.NodePoolHashAnnotation]: hash,
  [Labels.NodePoolHashVersionAnnotation]: Labels.NodePoolHashVersion
})

describe("nodeclaim.disruption: Consolidatable", () => {
  it.effect("appears exactly consolidateAfter after initialization", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default", { consolidateAfter: "30s" })
        yield* launched("nc")
        yield* Disruption.make
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
        yield* advance(29_999)
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
        yield* advance(1)
        const condition = yield* conditionOf("nc", Consolidatable)
        assert.strictEqual(condition?.status, "True")
        assert.strictEqual(condition?.reason, Consolidatable)
        assert.strictEqual(condition?.lastTransitionTime, "1970-01-01T00:00:30Z")
      })
    )
  )

  it.effect("resets on a pod event and reappears consolidateAfter later", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default", { consolidateAfter: "30s" })
        yield* launched("nc")
        yield* createNode("node-nc", "fake://nc")
        yield* Disruption.make
        yield* PodEvents.make
        yield* advance(40_000)
        assert.strictEqual((yield* conditionOf("nc", Consolidatable))?.status, "True")

        yield* createPod("app", { nodeName: "node-nc" })
        yield* settle
        assert.strictEqual((yield* getNodeClaim("nc")).status?.lastPodEventTime, "1970-01-01T00:00:40Z")
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
        yield* advance(29_000)
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
        yield* advance(1_000)
        assert.strictEqual((yield* conditionOf("nc", Consolidatable))?.status, "True")
      })
    )
  )

  it.effect("is removed when consolidateAfter becomes Never, and is never set while it is", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default", { consolidateAfter: "10s" })
        yield* launched("nc")
        yield* Disruption.make
        yield* advance(10_000)
        assert.strictEqual((yield* conditionOf("nc", Consolidatable))?.status, "True")
        yield* patchNodePool("default", { spec: { disruption: { consolidateAfter: "Never" } } })
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
        yield* advance(3_600_000)
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
      })
    )
  )

  it.effect("is not set before the NodeClaim is initialized", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default", { consolidateAfter: "0s" })
        yield* launched("nc", { initialized: false })
        yield* Disruption.make
        yield* advance(60_000)
        assert.isUndefined(yield* conditionOf("nc", Consolidatable))
        yield* patchNodeClaimStatus("nc", {
          conditions: [
            ...((yield* getNodeClaim("nc")).status?.conditions ?? []),
            ...(yield* trueConditions([Initialized]))
          ]
        })
        yield* settle
        assert.strictEqual((yield* conditionOf("nc", Consolidatable))?.status, "True")
      })
    )
  )
})

describe("nodeclaim.disruption: Drifted", () => {
  it.effect("NodePoolDrifted when the NodePool's template changes, before nodepool.hash rewrites its annotation", () =>
    run(
      Effect.gen(function* () {
        const created = yield* createNodePool("default")
        const hash = Hash.hashOf(created)
        yield* patchNodePool("default", { metadata: { annotations: hashAnnotations(hash) } })
        yield* launched("nc", { annotations: hashAnnotations(hash) })
        yield* Disruption.make
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Drifted))

        yield* patchNodePool("default", { spec: { template: { metadata: { labels: { team: "a" } } } } })
        yield* settle
        const condition = yield* conditionOf("nc", Drifted)
        assert.strictEqual(condition?.status, "True")
        assert.strictEqual(condition?.reason, ConditionTypes.NodePoolDrifted)
        assert.strictEqual(condition?.message, ConditionTypes.NodePoolDrifted)
      })
    )
  )

  it.effect("no static drift across hash versions or without the annotations", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default", {
          annotations: { [Labels.NodePoolHashAnnotation]: "1", [Labels.NodePoolHashVersionAnnotation]: "v2" }
        })
        yield* launched("other-version", { annotations: hashAnnotations("2") })
        yield* launched("unannotated")
        yield* Disruption.make
        yield* settle
        assert.isUndefined(yield* conditionOf("other-version", Drifted))
        assert.isUndefined(yield* conditionOf("unannotated", Drifted))
      })
    )
  )

  it.effect("compares with the NodePool's computed hash, not its (possibly stale) annotation", () =>
    run(
      Effect.gen(function* () {
        const created = yield* createNodePool("default", { annotations: hashAnnotations("stale") })
        yield* launched("nc", { annotations: hashAnnotations(Hash.hashOf(created)) })
        yield* Disruption.make
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Drifted))
      })
    )
  )

  it.effect("RequirementsDrifted when the NodePool stops allowing the node's zone", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default")
        yield* launched("nc")
        yield* Disruption.make
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Drifted))
        yield* patchNodePool("default", {
          spec: { template: { spec: { requirements: [zoneRequirement("test-zone-2")] } } }
        })
        yield* settle
        assert.strictEqual((yield* conditionOf("nc", Drifted))?.reason, ConditionTypes.RequirementsDrifted)

        // A requirement on a label the node does not have drifts it too (strict compatibility).
        yield* patchNodePool("default", {
          spec: {
            template: {
              spec: {
                requirements: [zoneRequirement("test-zone-1"), { key: "team", operator: "In", values: ["a"] }]
              }
            }
          }
        })
        yield* settle
        assert.strictEqual((yield* conditionOf("nc", Drifted))?.reason, ConditionTypes.RequirementsDrifted)

        // Allowed again: the condition goes.
        yield* patchNodePool("default", {
          spec: { template: { spec: { requirements: [zoneRequirement("test-zone-1")] } } }
        })
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Drifted))
      })
    )
  )

  it.effect("InstanceTypeNotFound when the provider drops the type, or every offering compatible with the node", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        yield* createNodePool("default")
        yield* launched("nc")
        yield* Disruption.make
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Drifted))

        // An unavailable offering still counts.
        const price = 1
        yield* fake.setInstanceTypes([
          FakeInstanceTypes.make({
            name: "default-instance-type",
            offerings: [
              InstanceType.offering({ zone: "test-zone-1", capacityType: "on-demand", price, available: false })
            ]
          })
        ])
        yield* advance(Duration.toMillis(Disruption.driftInterval))
        assert.isUndefined(yield* conditionOf("nc", Drifted))

        // Only offerings in another zone.
        yield* fake.setInstanceTypes([
          FakeInstanceTypes.make({
            name: "default-instance-type",
            offerings: [InstanceType.offering({ zone: "test-zone-2", capacityType: "on-demand", price })]
          })
        ])
        yield* advance(300_000)
        assert.strictEqual((yield* conditionOf("nc", Drifted))?.reason, ConditionTypes.InstanceTypeNotFound)

        yield* fake.reset
        yield* advance(300_000)
        assert.isUndefined(yield* conditionOf("nc", Drifted))

        // The type gone altogether.
        yield* fake.setInstanceTypes(
          FakeInstanceTypes.defaults().filter((type) => type.name !== "default-instance-type")
        )
        yield* advance(300_000)
        assert.strictEqual((yield* conditionOf("nc", Drifted))?.reason, ConditionTypes.InstanceTypeNotFound)
      })
    )
  )

  it.effect("takes the cloud provider's drift reason, re-checked every 5 minutes", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        // No consolidation timer: nothing but the drift interval brings the NodeClaim back.
        yield* createNodePool("default", { consolidateAfter: "Never" })
        yield* launched("nc")
        yield* Disruption.make
        yield* settle
        yield* fake.setDrifted("ImageDrifted")
        yield* advance(299_000)
        assert.isUndefined(yield* conditionOf("nc", Drifted))
        yield* advance(1_000)
        const condition = yield* conditionOf("nc", Drifted)
        assert.strictEqual(condition?.reason, "ImageDrifted")
        assert.strictEqual(condition?.lastTransitionTime, "1970-01-01T00:05:00Z")
        yield* fake.setDrifted(undefined)
        yield* advance(300_000)
        assert.isUndefined(yield* conditionOf("nc", Drifted))
      })
    )
  )

  it.effect("a provider failure keeps Drifted as it is but still writes Consolidatable, then retries", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        yield* fake.setErrorForNodePool(
          "default",
          new CloudProvider.CloudProviderError({ method: "getInstanceTypes", message: "throttled" })
        )
        yield* fake.setDrifted("ImageDrifted")
        yield* createNodePool("default", { consolidateAfter: "0s" })
        yield* launched("nc")
        yield* Disruption.make
        yield* settle
        assert.strictEqual((yield* conditionOf("nc", Consolidatable))?.status, "True")
        assert.isUndefined(yield* conditionOf("nc", Drifted))
        yield* fake.setErrorForNodePool("default", undefined)
        yield* advance(1_000)
        assert.strictEqual((yield* conditionOf("nc", Drifted))?.reason, "ImageDrifted")
      })
    )
  )

  it.effect("is not computed before launch, and goes when a NodeClaim is not launched", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* Fake.FakeCloudProvider
        yield* fake.setDrifted("ImageDrifted")
        yield* createNodePool("default", { requirements: [zoneRequirement("test-zone-3")] })
        yield* createNodeClaim("nc", { labels: { ...launchedLabels(), [Labels.InstanceType]: "unknown" } })
        yield* Disruption.make
        yield* advance(600_000)
        assert.isUndefined(yield* conditionOf("nc", Drifted))

        yield* patchNodeClaimStatus("nc", { conditions: yield* trueConditions([Launched]) })
        yield* settle
        assert.strictEqual((yield* conditionOf("nc", Drifted))?.reason, ConditionTypes.RequirementsDrifted)

        // Launched no longer True (a status written by hand): the condition is cleared.
        const conditions = (yield* getNodeClaim("nc")).status?.conditions ?? []
        yield* patchNodeClaimStatus("nc", {
          conditions: conditions.map((condition) =>
            condition.type === Launched ? { ...condition, status: "Unknown" } : condition
          )
        })
        yield* settle
        assert.isUndefined(yield* conditionOf("nc", Drifted))
      })
    )
  )

  it.effect("leaves NodeClaims of other providers' NodeClasses and deleting NodeClaims alone", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool("default", { requirements: [zoneRequirement("test-zone-3")], consolidateAfter: "0s" })
        yield* createNodeClaim("foreign", { nodeClassRef: { group: "example.com", kind: "Other", name: "x" } })
        yield* patchNodeClaimStatus("foreign", { conditions: yield* trueConditions([Launched, Initialized]) })
        yield* createNodeClaim("deleting", { finalizers: [Labels.TerminationFinalizer] })
        yield* patchNodeClaimStatus("deleting", { conditions: yield* trueConditions([Launched, Initialized]) })
        const kube = yield* KubeClient
        yield* kube.delete(Resources.NodeClaims, "deleting")
        yield* Disruption.make
        yield* advance(1_000)
        for (const name of ["foreign", "deleting"]) {
          const claim = yield* getNodeClaim(name)
          assert.isUndefined(Conditions.get(claim.status?.conditions, Drifted), name)
          assert.isUndefined(Conditions.get(claim.status?.conditions, Consolidatable), name)
        }
      })
    )
  )
})

describe("Disruption (pure)", () => {
  it("reserved NodeClaims also accept on-demand offerings and ignore the reservation id", () => {
    const type = FakeInstanceTypes.make({
      name: "it",
      offerings: [InstanceType.offering({ zone: "z1", capacityType: "on-demand", price: 1 })]
    })
    const claim = {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      metadata: {
        name: "nc",
        labels: {
          [Labels.InstanceType]: "it",
          [Labels.Zone]: "z1",
          [Labels.CapacityType]: Labels.CapacityTypeReserved,
          [FakeInstanceTypes.ReservationIDLabel]: "r-1"
        }
      },
      spec: { nodeClassRef: { group: "g", kind: "k", name: "n" }, requirements: [], expireAfter: "720h" }
    } as const
    assert.isUndefined(Disruption.instanceTypeDrift([type], claim, FakeInstanceTypes.wellKnownLabels))
    const spot = {
      ...claim,
      metadata: { ...claim.metadata, labels: { ...claim.metadata.labels, [Labels.CapacityType]: "spot" } }
    }
    assert.strictEqual(
      Disruption.instanceTypeDrift([type], spot, FakeInstanceTypes.wellKnownLabels),
      ConditionTypes.InstanceTypeNotFound
    )
    // Kept per labels object, for the instance types it was asked about: the type gone, the answer changes.
    assert.strictEqual(
      Disruption.instanceTypeDrift([], claim, FakeInstanceTypes.wellKnownLabels),
      ConditionTypes.InstanceTypeNotFound
    )
    assert.isUndefined(Disruption.instanceTypeDrift([type], claim, FakeInstanceTypes.wellKnownLabels))
  })

  it("requirements drift is worked out again when the NodePool's requirements change, not the NodeClaim", () => {
    const claim = {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      metadata: { name: "nc", labels: { [Labels.Zone]: "z1" } },
      spec: { nodeClassRef: { group: "g", kind: "k", name: "n" }, requirements: [], expireAfter: "720h" }
    } as const
    const pool = (zones: ReadonlyArray<string>) =>
      Schema.decodeUnknownSync(NodePoolApi.NodePool)(
        nodePool("default", { requirements: [{ key: Labels.Zone, operator: "In", values: zones }] })
      )
    assert.isUndefined(Disruption.requirementsDrift(pool(["z1", "z2"]), claim))
    assert.strictEqual(Disruption.requirementsDrift(pool(["z2"]), claim), ConditionTypes.RequirementsDrifted)
    assert.isUndefined(Disruption.requirementsDrift(pool(["z1"]), claim))
  })
})
