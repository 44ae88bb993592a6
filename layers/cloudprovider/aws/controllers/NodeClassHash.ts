/**
 * The `nodeclass.hash` controller of the AWS provider (aws/karpenter-provider-aws v1.4.0,
 * `pkg/controllers/nodeclass/hash/controller.go`): keeps an EC2NodeClass's hash annotations current — the hash of its
 * static fields ({@link AwsCloudProvider.hashOf}) and the hash version — which launches copy onto NodeClaims and
 * static drift compares. When the node class's hash version is not this project's, its NodeClaims are migrated first,
 * so a hash of another version (upstream's `v4`, or an older one of ours) is never compared with a current one.
 */
import * as Effect from "effect/Effect"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import * as NodeClassRef from "../../../../src/api/NodeClassRef.ts"
import * as NodePoolHash from "../../../../src/controllers/nodepool/hash/Hash.ts"
import * as NodeClasses from "../../../../src/controllers/nodepool/nodeclass/NodeClasses.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Controller from "../../../../src/runtime/Controller.ts"
import * as Indices from "../../../../src/runtime/Indices.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as AwsCloudProvider from "../AwsCloudProvider.ts"

const hashKeys: NodePoolHash.HashAnnotations = {
  hash: AwsCloudProvider.HashAnnotation,
  version: AwsCloudProvider.HashVersionAnnotation
}

/** Starts `nodeclass.hash` over every EC2NodeClass (ten workers, as upstream). */
export const make = Effect.fn("NodeClassHash.make")(function* () {
  const kube = yield* KubeClient
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const nodeClasses = yield* InformerCache.informer(Resources.EC2NodeClasses)

  const reconcile = Effect.fn("NodeClassHash.reconcile")(function* (nodeClass: EC2NodeClass.EC2NodeClass) {
    const name = nodeClass.metadata.name ?? ""
    const annotations = nodeClass.metadata.annotations ?? {}
    const current = { hash: AwsCloudProvider.hashOf(nodeClass), version: AwsCloudProvider.HashVersion }
    if (annotations[hashKeys.version] !== current.version) {
      // From the cache, as upstream's cached client lists them (`nodeclaimutils.ForNodeClass`).
      yield* nodeClaims.synced
      const users = yield* nodeClaims.byIndex(
        Indices.nodeClaimNodeClass,
        NodeClassRef.key({ group: EC2NodeClass.group, kind: EC2NodeClass.kind, name })
      )
      yield* NodePoolHash.migrateNodeClaimHashes(users, hashKeys, current)
    } else if (annotations[hashKeys.hash] === current.hash) {
      return Result.done
    }
    // Annotations merge key by key: no lock needed, and other writers' annotations are untouched.
    return yield* NodeClasses.settleWrite(
      kube.patch(Resources.EC2NodeClasses, name, {
        type: "merge",
        patch: { metadata: { annotations: { [hashKeys.hash]: current.hash, [hashKeys.version]: current.version } } }
      })
    )
  })

  return yield* Controller.make({
    name: "nodeclass.hash",
    for: nodeClasses,
    concurrency: 10,
    reconcile: (_key, nodeClass) =>
      nodeClass === undefined
        ? Effect.succeed(Result.done)
        : reconcile(nodeClass).pipe(Effect.provideService(KubeClient, kube))
  })
})
