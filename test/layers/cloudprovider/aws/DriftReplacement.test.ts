/**
 * Drift on the AWS provider, end to end on the embedded cluster (TestClock): nodes launched on an EC2NodeClass drift
 * when its AMI, subnet or security-group selection changes, and the disruption controller replaces them — each
 * replacement launched by CreateFleet and registered by its kubelet before the drifted node drains — never more than
 * the NodePool's budget of one node at a time.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FakeAws from "../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../../../../layers/cloudprovider/aws/fake/FakeKubelet.ts"
import * as ConditionTypes from "../../../../src/api/Conditions.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Taints from "../../../../src/api/Taints.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { deployment, podSpec } from "../../../cluster/support.ts"
import * as D from "../../../controllers/disruption/support.ts"
import * as S from "../../../controllers/support.ts"
import { nodeClassRef, setUp, storedNodeClass, TestLayer, updateNodeClassSpec, zones } from "./support.ts"

/**
 * The NodePool: m5.large on-demand in two zones (so a replacement has somewhere to go when a subnet leaves), no
 * consolidation (only drift moves nodes), a budget of one node.
 */
const pool = (() => {
  const base = D.nodePool("default", { consolidateAfter: "Never", budgets: [{ nodes: "1" }] })
  return {
    ...base,
    spec: {
      ...base.spec,
      template: {
        spec: {
          nodeClassRef,
          requirements: [
            { key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeOnDemand] },
            { key: Labels.InstanceType, operator: "In", values: ["m5.large"] },
            { key: Labels.Zone, operator: "In", values: [zones[0], zones[1]] }
          ]
        }
      }
    }
  }
})()

const live = (claims: ReadonlyArray<NodeClaim>) =>
  claims.filter((claim) => claim.metadata.deletionTimestamp === undefined)

/**
 * How many machines are being disrupted now, by providerID (a Node is not named after its NodeClaim on EC2): NodeClaims
 * deleting, Nodes deleting or tainted disrupted; as upstream's budget counts them, not once the node is drained and
 * its instance terminating (NodeClaim InstanceTerminating=True).
 */
const disrupting = Effect.gen(function* () {
  const claims = yield* S.listNodeClaims
  const terminating = new Set(
    claims
      .filter((claim) => Conditions.isTrue(claim.status?.conditions, ConditionTypes.InstanceTerminating))
      .map((claim) => claim.status?.providerID ?? "")
  )
  const ids = new Set<string>()
  for (const claim of claims) {
    if (claim.metadata.deletionTimestamp !== undefined) ids.add(claim.status?.providerID ?? "")
  }
  for (const node of yield* S.listNodes) {
    const tainted = (node.spec.taints ?? []).some((taint) => taint.key === Taints.DisruptedNoSchedule.key)
    if (node.metadata.deletionTimestamp !== undefined || tainted) ids.add(node.spec.providerID ?? "")
  }
  return [...ids].filter((id) => !terminating.has(id)).length
})

const instanceOf = (claim: NodeClaim | undefined) => claim?.status?.providerID?.split("/").at(-1) ?? ""

/** A change of the EC2NodeClass (or of what its selectors find) and the drift reason the provider gives for it. */
interface Change {
  readonly name: string
  readonly reason: string
  /** Makes the change; answers which of `claims` it drifts. */
  readonly apply: (
    claims: ReadonlyArray<NodeClaim>
  ) => Effect.Effect<ReadonlyArray<string>, unknown, KubeClient | FakeAws.FakeAws>
}

const all = (claims: ReadonlyArray<NodeClaim>) => claims.map((claim) => claim.metadata.name ?? "")

const changes: ReadonlyArray<Change> = [
  {
    name: "an AMI selector pinned to another release",
    reason: "AMIDrift",
    apply: (claims) =>
      Effect.as(updateNodeClassSpec({ amiSelectorTerms: [{ alias: "al2023@v20250101" }] }), all(claims))
  },
  {
    name: "a subnet selector that no longer finds the nodes' subnet",
    reason: "SubnetDrift",
    apply: (claims) =>
      Effect.gen(function* () {
        const zone = claims[0]?.metadata.labels?.[Labels.Zone]
        const others = ((yield* storedNodeClass).status?.subnets ?? []).filter((subnet) => subnet.zone !== zone)
        yield* updateNodeClassSpec({ subnetSelectorTerms: others.map((subnet) => ({ id: subnet.id })) })
        return all(claims.filter((claim) => claim.metadata.labels?.[Labels.Zone] === zone))
      })
  },
  {
    name: "a security group selector that finds one more group",
    reason: "SecurityGroupDrift",
    apply: (claims) =>
      Effect.gen(function* () {
        const fake = yield* FakeAws.FakeAws
        yield* fake.createSecurityGroup({
          GroupName: "test-cluster-extra",
          Tags: [{ Key: "team", Value: "payments" }]
        })
        yield* updateNodeClassSpec({
          securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "*" } }, { tags: { team: "payments" } }]
        })
        return all(claims)
      })
  }
]

describe("drift on the AWS provider", S.controllerSuite, () => {
  for (const change of changes) {
    it.effect(`${change.name} drifts the nodes (${change.reason}); they are replaced one at a time`, () =>
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* setUp(undefined, pool)
        const log = yield* D.start()
        yield* Layer.build(FakeKubelet.layer())
        // m5.large has 2 vCPUs: one 1500m replica per node, three nodes.
        yield* kube.create(Resources.Deployments, deployment("web", 3, podSpec("1500m")) as never, {
          namespace: "default"
        })
        yield* S.advance(90_000, 1_000)
        const before = live(yield* S.listNodeClaims)
        assert.lengthOf(before, 3)
        for (const claim of before) {
          assert.isTrue(Conditions.isTrue(claim.status?.conditions, ConditionTypes.Initialized), claim.metadata.name)
        }
        assert.deepStrictEqual(log.entries(), [], "nothing drifted yet")

        const drifted = yield* change.apply(before)
        assert.isAbove(drifted.length, 0)
        // The disruption conditions controller looks again within its requeue (upstream: every 5 minutes at most).
        let most = 0
        const reasons = new Set<string>()
        const replaced = new Set<string>()
        for (let step = 0; step < 900 && replaced.size < drifted.length; step++) {
          yield* S.advance(1_000, 1_000)
          const claims = yield* S.listNodeClaims
          const initializedNew = claims.filter(
            (claim) =>
              !before.some((old) => old.metadata.name === claim.metadata.name) &&
              Conditions.isTrue(claim.status?.conditions, ConditionTypes.Initialized)
          )
          for (const name of drifted) {
            const old = claims.find((claim) => claim.metadata.name === name)
            const reason = Conditions.get(old?.status?.conditions, ConditionTypes.Drifted)?.reason
            if (reason !== undefined) reasons.add(reason)
            if (old === undefined || old.metadata.deletionTimestamp !== undefined) replaced.add(name)
          }
          // A drifted node drains only once its replacement has registered and initialized.
          assert.isAtLeast(initializedNew.length, replaced.size, `t+${step}s: replacements before drains`)
          most = Math.max(most, yield* disrupting)
          assert.isAtMost(most, 1, `t+${step}s: the budget of one node`)
        }
        assert.strictEqual(replaced.size, drifted.length, "every drifted node was replaced")
        assert.deepStrictEqual([...reasons], [change.reason], "the provider's drift reason")
        assert.strictEqual(most, 1, "one node disrupted at a time, and the budget was used")
        yield* S.advance(120_000, 1_000)

        const entries = log.entries()
        assert.deepStrictEqual(
          entries.map((entry) => entry.reason),
          drifted.map(() => "Drifted")
        )
        assert.deepStrictEqual(
          entries.flatMap((entry) => entry.candidates).sort(),
          [
            ...before
              .filter((claim) => drifted.includes(claim.metadata.name ?? ""))
              .map((claim) => claim.status?.nodeName ?? "")
          ].sort()
        )
        for (const entry of entries) assert.deepStrictEqual(entry.replacements, ["m5.large"])
        // The drifted instances are terminated, the others kept; no NodeClaim is drifted any more.
        const after = live(yield* S.listNodeClaims)
        assert.lengthOf(after, 3)
        const kept = after.map(instanceOf)
        for (const claim of before) {
          assert.strictEqual(
            kept.includes(instanceOf(claim)),
            !drifted.includes(claim.metadata.name ?? ""),
            `${claim.metadata.name}'s instance`
          )
        }
        for (const claim of after) {
          assert.isUndefined(Conditions.get(claim.status?.conditions, ConditionTypes.Drifted), claim.metadata.name)
        }
        // The workload runs on the fleet, every replica Running.
        const pods = yield* S.listPods
        assert.lengthOf(pods, 3)
        for (const pod of pods) assert.strictEqual(pod.status?.phase, "Running", pod.metadata.name)
      }).pipe(Effect.provide(TestLayer))
    )
  }
})
