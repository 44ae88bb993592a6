import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Labels from "../../../../src/api/Labels.ts"
import type { NodePool } from "../../../../src/api/NodePool.ts"
import * as Hash from "../../../../src/controllers/nodepool/hash/Hash.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { createNodePool, getNodePool, kwokKind, nodePool, patchNodePoolSpec, run, settle } from "../support.ts"

// A decoded NodePool (CRD defaults applied) with the given template.
const decoded = (
  template: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> },
  spec?: Record<string, unknown>
): NodePool =>
  ({
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: { name: "np" },
    spec: {
      template: {
        ...(template.metadata === undefined ? {} : { metadata: template.metadata }),
        spec: {
          requirements: [{ key: Labels.CapacityType, operator: "In", values: ["on-demand"] }],
          nodeClassRef: { ...kwokKind, name: "default" },
          expireAfter: "720h",
          ...template.spec
        }
      },
      disruption: {
        consolidateAfter: "0s",
        consolidationPolicy: "WhenEmptyOrUnderutilized",
        budgets: [{ nodes: "10%" }]
      },
      ...spec
    }
  }) as unknown as NodePool

const base = decoded({})

describe("hashOf", () => {
  it("equals upstream's NodePool.Hash() (hashstructure v2, computed with Go)", () => {
    assert.strictEqual(Hash.hashOf(base), "12745407319442031341")
    const rich = decoded({
      metadata: { labels: { team: "a", tier: "web" }, annotations: { note: "x" } },
      spec: {
        taints: [
          { key: "dedicated", value: "gpu", effect: "NoSchedule" },
          { key: "b", effect: "NoExecute" }
        ],
        startupTaints: [{ key: "init", effect: "NoSchedule" }],
        terminationGracePeriod: "1h",
        expireAfter: "Never"
      }
    })
    assert.strictEqual(Hash.hashOf(rich), "18211547266693925326")
  })

  it("does not depend on map key order or taint order", () => {
    const a = decoded({
      metadata: { labels: { a: "1", b: "2" }, annotations: { x: "1", y: "2" } },
      spec: {
        taints: [
          { key: "k1", effect: "NoSchedule" },
          { key: "k2", value: "v", effect: "NoExecute" }
        ],
        startupTaints: [
          { key: "s1", effect: "NoSchedule" },
          { key: "s2", effect: "NoSchedule" }
        ]
      }
    })
    const b = decoded({
      metadata: { annotations: { y: "2", x: "1" }, labels: { b: "2", a: "1" } },
      spec: {
        startupTaints: [
          { key: "s2", effect: "NoSchedule" },
          { key: "s1", effect: "NoSchedule" }
        ],
        taints: [
          { key: "k2", value: "v", effect: "NoExecute" },
          { key: "k1", effect: "NoSchedule" }
        ]
      }
    })
    assert.strictEqual(Hash.hashOf(a), Hash.hashOf(b))
  })

  it("changes with labels, annotations, taints, startupTaints, nodeClassRef, terminationGracePeriod, expireAfter", () => {
    const changed = [
      decoded({ metadata: { labels: { team: "a" } } }),
      decoded({ metadata: { annotations: { note: "x" } } }),
      decoded({ spec: { taints: [{ key: "k", effect: "NoSchedule" }] } }),
      decoded({ spec: { startupTaints: [{ key: "k", effect: "NoSchedule" }] } }),
      decoded({ spec: { nodeClassRef: { ...kwokKind, name: "other" } } }),
      decoded({ spec: { terminationGracePeriod: "30s" } }),
      decoded({ spec: { expireAfter: "24h" } }),
      decoded({ spec: { expireAfter: "Never" } })
    ].map(Hash.hashOf)
    assert.strictEqual(new Set([Hash.hashOf(base), ...changed]).size, changed.length + 1)
    // A taint is the same taint in taints and startupTaints, but the two fields hash apart.
    assert.notStrictEqual(changed[2], changed[3])
  })

  it("ignores requirements and everything outside the template", () => {
    const same = [
      decoded({ spec: { requirements: [{ key: Labels.Zone, operator: "In", values: ["z1"] }] } }),
      decoded({}, { limits: { cpu: "100" } }),
      decoded({}, { weight: 50 }),
      decoded({}, { disruption: { consolidateAfter: "1h", consolidationPolicy: "WhenEmpty", budgets: [] } })
    ].map(Hash.hashOf)
    for (const hash of same) assert.strictEqual(hash, Hash.hashOf(base))
  })

  it("skips zero values: an empty label value or taint value is as if unset", () => {
    assert.strictEqual(
      Hash.hashOf(decoded({ spec: { taints: [{ key: "k", value: "", effect: "NoSchedule" }] } })),
      Hash.hashOf(decoded({ spec: { taints: [{ key: "k", effect: "NoSchedule" }] } }))
    )
    assert.strictEqual(Hash.hashOf(decoded({ metadata: {} })), Hash.hashOf(base))
  })
})

const nodeClaim = (name: string, nodePoolName: string, annotations: Record<string, string>, drifted = false) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  metadata: { name, labels: { [Labels.NodePool]: nodePoolName }, annotations },
  spec: {
    requirements: [{ key: Labels.NodePool, operator: "In", values: [nodePoolName] }],
    nodeClassRef: { ...kwokKind, name: "default" }
  },
  drifted
})

const annotationsOf = (resource: typeof Resources.NodePools | typeof Resources.NodeClaims, name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    Effect.map(kube.get(resource as typeof Resources.NodeClaims, name), (object) => object.metadata.annotations ?? {})
  )

describe("nodepool.hash", () => {
  it.effect("writes the hash and its version, and rewrites the hash when the template changes", () =>
    run(
      Effect.gen(function* () {
        yield* createNodePool(nodePool("np"))
        yield* Hash.make()
        yield* settle
        const stored = yield* getNodePool("np")
        const first = stored.metadata.annotations ?? {}
        assert.strictEqual(first[Labels.NodePoolHashAnnotation], Hash.hashOf(stored))
        assert.strictEqual(first[Labels.NodePoolHashVersionAnnotation], "v3")

        yield* patchNodePoolSpec("np", { template: { metadata: { labels: { team: "a" } } } })
        yield* settle
        const updated = yield* getNodePool("np")
        assert.notStrictEqual(
          updated.metadata.annotations?.[Labels.NodePoolHashAnnotation],
          first[Labels.NodePoolHashAnnotation]
        )
        assert.strictEqual(updated.metadata.annotations?.[Labels.NodePoolHashAnnotation], Hash.hashOf(updated))

        // A change outside the template leaves it, and the NodePool's metadata, alone.
        const written = yield* patchNodePoolSpec("np", { weight: 10 })
        yield* settle
        const weighted = yield* getNodePool("np")
        assert.strictEqual(weighted.metadata.annotations?.[Labels.NodePoolHashAnnotation], Hash.hashOf(updated))
        assert.strictEqual(weighted.metadata.resourceVersion, written.metadata.resourceVersion)
      })
    )
  )

  it.effect("on a hash-version change, migrates the NodePool's NodeClaims; drifted ones keep their hash", () =>
    run(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        yield* createNodePool(
          nodePool("np", {
            annotations: { [Labels.NodePoolHashAnnotation]: "111", [Labels.NodePoolHashVersionAnnotation]: "v2" }
          })
        )
        const old = { [Labels.NodePoolHashAnnotation]: "111", [Labels.NodePoolHashVersionAnnotation]: "v2" }
        const claims = [
          nodeClaim("plain", "np", old),
          nodeClaim("drifted", "np", old, true),
          nodeClaim("current", "np", {
            [Labels.NodePoolHashAnnotation]: "222",
            [Labels.NodePoolHashVersionAnnotation]: "v3"
          }),
          nodeClaim("elsewhere", "other", old)
        ]
        for (const { drifted, ...claim } of claims) {
          yield* kube.create(Resources.NodeClaims, claim as never)
          if (drifted) {
            yield* kube.patch(
              Resources.NodeClaims,
              claim.metadata.name,
              {
                type: "merge",
                patch: {
                  status: {
                    conditions: [
                      {
                        type: "Drifted",
                        status: "True",
                        lastTransitionTime: "2025-01-01T00:00:00Z",
                        reason: "NodePoolDrifted",
                        message: ""
                      }
                    ]
                  }
                }
              },
              { subresource: "status" }
            )
          }
        }
        yield* Hash.make()
        yield* settle
        const hash = Hash.hashOf(yield* getNodePool("np"))
        const v3 = Labels.NodePoolHashVersion
        const pairOf = (annotations: Record<string, string>) => [
          annotations[Labels.NodePoolHashAnnotation],
          annotations[Labels.NodePoolHashVersionAnnotation]
        ]
        assert.deepStrictEqual(pairOf(yield* annotationsOf(Resources.NodePools, "np")), [hash, v3])
        assert.deepStrictEqual(pairOf(yield* annotationsOf(Resources.NodeClaims, "plain")), [hash, v3])
        assert.deepStrictEqual(pairOf(yield* annotationsOf(Resources.NodeClaims, "drifted")), ["111", v3])
        assert.deepStrictEqual(pairOf(yield* annotationsOf(Resources.NodeClaims, "current")), ["222", v3])
        assert.deepStrictEqual(pairOf(yield* annotationsOf(Resources.NodeClaims, "elsewhere")), ["111", "v2"])
      })
    )
  )
})
