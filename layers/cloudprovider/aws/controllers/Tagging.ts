/**
 * The `nodeclaim.tagging` controller of the AWS provider (aws/karpenter-provider-aws v1.4.0,
 * `pkg/controllers/nodeclaim/tagging/controller.go`): once a NodeClaim's Node is known, its instance gets the tags a
 * launch cannot give it — `Name` (the node name), `karpenter.sh/nodeclaim` and `eks:eks-cluster-name` — and the
 * NodeClaim is annotated as tagged so it is not looked at again. Tags the instance already has are kept (a user's
 * `Name` wins). One worker, and a second's pause after each CreateTags: it shares EC2's mutating-call bucket with
 * CreateFleet.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as NodeClasses from "../../../../src/controllers/nodepool/nodeclass/NodeClasses.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Controller from "../../../../src/runtime/Controller.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as AwsCloudProvider from "../AwsCloudProvider.ts"
import { EksClusterNameTag } from "../providers/InstanceProfiles.ts"
import { Ec2 } from "../sdk/Ec2.ts"

/** What the controller is told (upstream `--cluster-name`). */
export interface Settings {
  readonly clusterName: string
}

/** upstream `AnnotationInstanceTagged`: the instance has its NodeClaim's tags. */
export const TaggedAnnotation = "karpenter.k8s.aws/tagged"
/** upstream `AnnotationClusterNameTaggedCompatability`: the instance has the `eks:eks-cluster-name` tag too. */
export const ClusterNameTaggedAnnotation = "compatibility.karpenter.k8s.aws/cluster-name-tagged"
/** upstream `NameTagKey`. */
export const NameTag = "Name"
/** upstream `NodeClaimTagKey`. */
export const NodeClaimTag = "karpenter.sh/nodeclaim"

/** The pause after each CreateTags (upstream sleeps a second). */
export const createTagsPause = Duration.seconds(1)

/** upstream `isTaggable`, with its managed predicate: an EC2NodeClass's live, untagged NodeClaim whose Node is known. */
const isTaggable = (claim: NodeClaim): boolean => {
  const annotations = claim.metadata.annotations ?? {}
  return (
    claim.spec.nodeClassRef.group === EC2NodeClass.group &&
    claim.spec.nodeClassRef.kind === EC2NodeClass.kind &&
    !(annotations[TaggedAnnotation] === "true" && annotations[ClusterNameTaggedAnnotation] === "true") &&
    (claim.status?.nodeName ?? "") !== "" &&
    claim.metadata.deletionTimestamp === undefined
  )
}

/** Starts `nodeclaim.tagging` over every NodeClaim. */
export const make = Effect.fn("Tagging.make")(function* (settings: Settings) {
  const kube = yield* KubeClient
  const ec2 = yield* Ec2
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)

  /** Adds the tags the instance lacks; false when the instance is gone (nothing to tag, nothing to annotate). */
  const tagInstance = Effect.fn("Tagging.tagInstance")(function* (claim: NodeClaim, instanceId: string) {
    const reservations = yield* ec2
      .describeInstances({ InstanceIds: [instanceId], Filters: [AwsCloudProvider.instanceStateFilter] })
      .pipe(Effect.catchTag("AwsNotFound", () => Effect.succeed([])))
    const [instance] = reservations.flatMap((reservation) => reservation.Instances ?? [])
    if (instance === undefined) return false
    const present = new Set((instance.Tags ?? []).map((tag) => tag.Key))
    const wanted: ReadonlyArray<readonly [string, string]> = [
      [NameTag, claim.status?.nodeName ?? ""],
      [NodeClaimTag, claim.metadata.name ?? ""],
      [EksClusterNameTag, settings.clusterName]
    ]
    const missing = wanted.filter(([key]) => !present.has(key))
    if (missing.length === 0) return true
    yield* ec2
      .createTags({ Resources: [instanceId], Tags: missing.map(([Key, Value]) => ({ Key, Value })) })
      .pipe(Effect.ensuring(Effect.sleep(createTagsPause)))
    return true
  })

  const reconcile = Effect.fn("Tagging.reconcile")(function* (claim: NodeClaim) {
    if (!isTaggable(claim)) return Result.done
    const providerID = claim.status?.providerID ?? ""
    const instanceId = AwsCloudProvider.instanceIdOf(providerID)
    if (instanceId === undefined) {
      // Not retried: the NodeClaim is queued again when its providerID changes.
      yield* Effect.logError("failed parsing instance id", { nodeClaim: claim.metadata.name, providerID })
      return Result.done
    }
    if (!(yield* tagInstance(claim, instanceId))) return Result.done
    return yield* NodeClasses.settleWrite(
      kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
        type: "merge",
        patch: { metadata: { annotations: { [TaggedAnnotation]: "true", [ClusterNameTaggedAnnotation]: "true" } } }
      })
    )
  })

  return yield* Controller.make({
    name: "nodeclaim.tagging",
    for: nodeClaims,
    // upstream keeps controller-runtime's one worker, so CreateTags calls never overlap.
    concurrency: 1,
    reconcile: (_key, claim) => (claim === undefined ? Effect.succeed(Result.done) : reconcile(claim))
  })
})
