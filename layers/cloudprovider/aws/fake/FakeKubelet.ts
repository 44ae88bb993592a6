/**
 * The kubelets of the fake AWS's instances: EC2 instances do not join a cluster by themselves, so each running
 * instance of a NodeClaim registers its Node a boot time after launch, as its kubelet would: named by the instance's
 * private DNS name, with the kubelet's own labels, the NodeClaim's `--node-labels`, the unregistered taint and the
 * capacity the NodeClaim was launched with. The control plane's kubelet emulation then makes the Node Ready. When an
 * instance is terminated its Node goes away (as the cloud node lifecycle controller deletes it; the KWOK provider
 * deletes its Node the same way). Everything runs on Effect's Clock.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as Node from "../../../../src/api/Node.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as Taints from "../../../../src/api/Taints.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Indices from "../../../../src/runtime/Indices.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import { providerIDOf } from "../AwsCloudProvider.ts"
import { FakeAws } from "./FakeAws.ts"

/** How the kubelets run. */
export interface Options {
  /** From launch to the Node's registration (boot, nodeadm, kubelet start); default {@link defaultBootTime}. */
  readonly bootTime?: Duration.Input
}

/** An EKS-optimized AL2023 instance typically registers about half a minute after launch. */
export const defaultBootTime = Duration.seconds(30)

/** While the instance runs and its NodeClaim has not recorded it yet, the kubelet tries again this often. */
const claimPoll = Schedule.spaced("5 seconds")

/** The Node the kubelet of `instance` registers for `claim`. */
export const nodeOf = (instance: Ec2Sdk.Instance, claim: NodeClaim): Node.Node => {
  const zone = instance.Placement?.AvailabilityZone ?? ""
  const name = instance.PrivateDnsName ?? ""
  const providerID = providerIDOf(zone, instance.InstanceId ?? "")
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        // `--node-labels` from the user data, then what the kubelet knows of its machine.
        ...claim.metadata.labels,
        [Labels.Hostname]: name,
        [Labels.InstanceType]: instance.InstanceType ?? "",
        [Labels.Zone]: zone,
        [Labels.Arch]: instance.Architecture === "arm64" ? "arm64" : "amd64",
        [Labels.OS]: "linux"
      }
    },
    spec: {
      providerID,
      taints: [{ key: Taints.UnregisteredNoExecute.key, effect: Taints.UnregisteredNoExecute.effect }]
    },
    status: {
      ...(claim.status?.capacity === undefined ? {} : { capacity: claim.status.capacity }),
      ...(claim.status?.allocatable === undefined ? {} : { allocatable: claim.status.allocatable }),
      conditions: [],
      nodeInfo: { architecture: instance.Architecture === "arm64" ? "arm64" : "amd64", operatingSystem: "linux" }
    }
  }
}

/** Starts the kubelets of the fake AWS's instances in the current Scope. */
export const make = Effect.fn("FakeKubelet.make")(function* (
  options?: Options
): Effect.fn.Return<void, never, FakeAws | KubeClient | InformerCache.InformerCache | Scope.Scope> {
  const fake = yield* FakeAws
  const kube = yield* KubeClient
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const bootMillis = Duration.toMillis(Duration.fromInputUnsafe(options?.bootTime ?? defaultBootTime))
  // Keyed by instance id: a pending registration ends when its instance is terminated first.
  const registrations = yield* FiberMap.make<string>()

  // The NodeClaim that launched the instance; an instance no NodeClaim records (yet) has no user data to join with.
  const claimOf = (providerID: string) =>
    Effect.flatMap(nodeClaims.byIndex(Indices.nodeClaimProviderID, providerID), ([claim]) =>
      claim === undefined ? Effect.fail("unrecorded" as const) : Effect.succeed(claim)
    )

  const register = (instance: Ec2Sdk.Instance) =>
    Effect.gen(function* () {
      const launchedAt = instance.LaunchTime?.getTime() ?? 0
      const zone = instance.Placement?.AvailabilityZone ?? ""
      const providerID = providerIDOf(zone, instance.InstanceId ?? "")
      const wait = launchedAt + bootMillis - (yield* Clock.currentTimeMillis)
      if (wait > 0) yield* Effect.sleep(wait)
      const claim = yield* claimOf(providerID).pipe(
        Effect.retry({ schedule: claimPoll, while: () => fake.isRunning(instance.InstanceId ?? "") }),
        Effect.option
      )
      if (claim._tag === "None" || !(yield* fake.isRunning(instance.InstanceId ?? ""))) return
      yield* kube.create(Resources.Nodes, nodeOf(instance, claim.value)).pipe(
        Effect.asVoid,
        Effect.catchTag("AlreadyExists", () => Effect.void),
        Effect.catch((error) =>
          Effect.logWarning("fake kubelet: registering the node failed", { node: instance.PrivateDnsName, error })
        )
      )
    })

  // The Node of a terminated instance goes, finalizers permitting: Karpenter's termination finalizer holds it
  // while the instance shuts down.
  const deregister = (instance: Ec2Sdk.Instance) =>
    Effect.andThen(
      FiberMap.remove(registrations, instance.InstanceId ?? ""),
      kube.delete(Resources.Nodes, instance.PrivateDnsName ?? "").pipe(
        Effect.asVoid,
        Effect.catchTags({ NotFound: () => Effect.void, Conflict: () => Effect.void }),
        Effect.catch((error) =>
          Effect.logWarning("fake kubelet: deleting the node failed", { node: instance.PrivateDnsName, error })
        )
      )
    )

  const follow = (instance: Ec2Sdk.Instance) =>
    Effect.asVoid(FiberMap.run(registrations, instance.InstanceId ?? "", register(instance), { onlyIfMissing: true }))

  // Subscribed before the instances already running are read, so none falls between the two.
  const changes = yield* fake.instanceChanges
  yield* Effect.forEach(yield* fake.runningInstances, follow, { discard: true })
  yield* Stream.runForEach(changes, (change) =>
    change._tag === "Launched" ? follow(change.instance) : deregister(change.instance)
  ).pipe(Effect.forkScoped)
})

/** The kubelets of the fake AWS's instances, running as long as the layer. */
export const layer = (
  options?: Options
): Layer.Layer<never, never, FakeAws | KubeClient | InformerCache.InformerCache> => Layer.effectDiscard(make(options))
