import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AwsCloudProvider from "../../../../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as NodeClassHash from "../../../../../layers/cloudprovider/aws/controllers/NodeClassHash.ts"
import * as MemoryKube from "../../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as EC2NodeClass from "../../../../../src/api/EC2NodeClass.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import * as InformerCache from "../../../../../src/runtime/InformerCache.ts"
import { nodeClaim } from "../../../../controllers/support.ts"
import { settle } from "../../../../support/Settle.ts"

const run = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.provide(body, InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer())))

const nodeClassRef = (name: string) => ({ group: EC2NodeClass.group, kind: EC2NodeClass.kind, name }) as const

const createNodeClass = (name: string, annotations?: Record<string, string>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.create(Resources.EC2NodeClasses, {
      apiVersion: EC2NodeClass.apiVersion,
      kind: EC2NodeClass.kind,
      metadata: { name, ...(annotations === undefined ? {} : { annotations }) },
      spec: {
        subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "test-cluster" } }],
        securityGroupSelectorTerms: [{ tags: { "karpenter.sh/discovery": "test-cluster" } }],
        amiSelectorTerms: [{ alias: "al2023@latest" }],
        role: "KarpenterNodeRole-test-cluster"
      }
    } as never)
  )

const stored = (name: string) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.EC2NodeClasses, name))

const patchSpec = (name: string, spec: Record<string, unknown>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(Resources.EC2NodeClasses, name, { type: "merge", patch: { spec } })
  )

const pairOf = (annotations: Readonly<Record<string, string>> | undefined) => [
  annotations?.[AwsCloudProvider.HashAnnotation],
  annotations?.[AwsCloudProvider.HashVersionAnnotation]
]

describe("nodeclass.hash (EC2NodeClass)", () => {
  it.effect("writes the hash and its version; a static field changes it, a selector does not", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass("default")
        yield* NodeClassHash.make()
        yield* settle
        const first = yield* stored("default")
        assert.deepStrictEqual(pairOf(first.metadata.annotations), [
          AwsCloudProvider.hashOf(first),
          AwsCloudProvider.HashVersion
        ])

        yield* patchSpec("default", { tags: { team: "a" } })
        yield* settle
        const tagged = yield* stored("default")
        assert.notStrictEqual(
          tagged.metadata.annotations?.[AwsCloudProvider.HashAnnotation],
          first.metadata.annotations?.[AwsCloudProvider.HashAnnotation]
        )
        assert.strictEqual(
          tagged.metadata.annotations?.[AwsCloudProvider.HashAnnotation],
          AwsCloudProvider.hashOf(tagged)
        )

        // Selectors only choose what the status resolves (upstream `hash:"ignore"`): no new hash, no write.
        const written = yield* patchSpec("default", { amiSelectorTerms: [{ alias: "al2023@v20250301" }] })
        yield* settle
        const selected = yield* stored("default")
        assert.strictEqual(selected.metadata.resourceVersion, written.metadata.resourceVersion)
      })
    )
  )

  it.effect("on a hash-version change, migrates the node class's NodeClaims; drifted ones keep their hash", () =>
    run(
      Effect.gen(function* () {
        const kube = yield* KubeClient
        // As upstream Karpenter left them: its own hash version, v4.
        const upstream = { [AwsCloudProvider.HashAnnotation]: "111", [AwsCloudProvider.HashVersionAnnotation]: "v4" }
        yield* createNodeClass("default", upstream)
        const claims = [
          { name: "plain", nodeClass: "default", annotations: upstream, drifted: false },
          { name: "drifted", nodeClass: "default", annotations: upstream, drifted: true },
          {
            name: "current",
            nodeClass: "default",
            annotations: {
              [AwsCloudProvider.HashAnnotation]: "222",
              [AwsCloudProvider.HashVersionAnnotation]: AwsCloudProvider.HashVersion
            },
            drifted: false
          },
          { name: "elsewhere", nodeClass: "other", annotations: upstream, drifted: false }
        ]
        for (const { name, nodeClass, annotations, drifted } of claims) {
          const manifest = nodeClaim(name, { nodeClassRef: nodeClassRef(nodeClass) })
          yield* kube.create(Resources.NodeClaims, {
            ...manifest,
            metadata: { ...manifest.metadata, annotations }
          } as never)
          if (drifted) {
            const condition = {
              type: "Drifted",
              status: "True",
              lastTransitionTime: "2025-01-01T00:00:00Z",
              reason: "NodeClassDrift",
              message: ""
            }
            yield* kube.patch(
              Resources.NodeClaims,
              name,
              { type: "merge", patch: { status: { conditions: [condition] } } },
              { subresource: "status" }
            )
          }
        }
        yield* NodeClassHash.make()
        yield* settle
        const hash = AwsCloudProvider.hashOf(yield* stored("default"))
        const version = AwsCloudProvider.HashVersion
        const claimPair = (name: string) =>
          Effect.map(kube.get(Resources.NodeClaims, name), (claim) => pairOf(claim.metadata.annotations))
        assert.deepStrictEqual(pairOf((yield* stored("default")).metadata.annotations), [hash, version])
        assert.deepStrictEqual(yield* claimPair("plain"), [hash, version])
        assert.deepStrictEqual(yield* claimPair("drifted"), ["111", version], "stays drifted")
        assert.deepStrictEqual(yield* claimPair("current"), ["222", version], "already current: untouched")
        assert.deepStrictEqual(yield* claimPair("elsewhere"), ["111", "v4"], "another node class's")
      })
    )
  )
})
