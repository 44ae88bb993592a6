/**
 * Volume attachment in the embedded cluster: kube-controller-manager's attach/detach controller together with each
 * CSI driver's external-attacher, as they show in the API through `storage.k8s.io/v1` VolumeAttachments.
 *
 * - A pod bound to an existing node, not terminal, whose claim (named, or a generic ephemeral volume's
 *   `<pod>-<volume>`) is bound to a PersistentVolume with a CSI source needs that volume on the node: a
 *   VolumeAttachment named as the CSI plugin names it (`csi-` + SHA-256 of volume handle, driver and node) is created
 *   with the external-attacher's finalizer and reported `status.attached: true` at once (attaching takes no time here;
 *   the two writers' steps are one).
 * - A pod keeps its volumes until it is gone or terminal: a terminating pod's containers still run (the kubelet
 *   emulation removes the pod when its grace period ends).
 * - Once no such pod on the node uses the volume, or the node is gone, the VolumeAttachment is deleted; the driver
 *   takes `detachDelay` (5 s by default) from its deletionTimestamp to detach, then the finalizer goes and the object
 *   with it. A volume wanted again while it detaches is attached anew once the old object is gone.
 *
 * Not emulated: the kubelet waiting for attachment before starting containers, the kubelet's unmount reported in
 * `node.status.volumesInUse` (and the 6-minute force detach), attach errors, in-tree volumes and inline CSI volumes.
 */
import { createHash } from "node:crypto"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Node from "../api/Node.ts"
import * as Pod from "../api/Pod.ts"
import type * as Storage from "../api/Storage.ts"
import { KubeClient } from "../kube/KubeClient.ts"
import * as Resources from "../kube/Resources.ts"
import * as Controller from "../runtime/Controller.ts"
import * as Informer from "../runtime/Informer.ts"
import * as InformerCache from "../runtime/InformerCache.ts"
import * as Result from "../runtime/Result.ts"
import * as VolumeTopology from "../scheduling/VolumeTopology.ts"
import * as Objects from "./Objects.ts"

/** How the attach/detach emulation runs. */
export interface Options {
  /** How long a CSI driver takes to detach a volume once its VolumeAttachment is deleted; default 5 s. */
  readonly detachDelay?: Duration.Input
}

/** The CSI plugin's VolumeAttachment name: `csi-` and the hex SHA-256 of volume handle, driver and node name. */
export const attachmentName = (volumeHandle: string, driver: string, nodeName: string): string =>
  `csi-${createHash("sha256").update(`${volumeHandle}${driver}${nodeName}`).digest("hex")}`

/**
 * The external-attacher's finalizer for a driver: `external-attacher/` and the driver name with every character but
 * letters, digits and `-` turned into `-` (an `X` appended when that leaves a trailing `-`).
 */
export const attacherFinalizer = (driver: string): string => {
  const sanitized = driver.replace(/[^a-zA-Z0-9-]/g, "-")
  return `external-attacher/${sanitized.endsWith("-") ? `${sanitized}X` : sanitized}`
}

/** A volume a node needs attached. */
interface Wanted {
  readonly name: string
  readonly volume: string
  readonly driver: string
}

/** Starts the attach/detach emulation in the current Scope: one reconcile per node. */
export const make = Effect.fn("AttachDetach.make")(function* (
  options?: Options
): Effect.fn.Return<Controller.Controller<Node.Node>, never, KubeClient | InformerCache.InformerCache | Scope.Scope> {
  const kube = yield* KubeClient
  const podInformer = yield* InformerCache.informer(Resources.Pods)
  const nodeInformer = yield* InformerCache.informer(Resources.Nodes)
  const claimInformer = yield* InformerCache.informer(Resources.PersistentVolumeClaims)
  const volumeInformer = yield* InformerCache.informer(Resources.PersistentVolumes)
  const attachmentInformer = yield* InformerCache.informer(Resources.VolumeAttachments)
  const detachMillis = Duration.toMillis(options?.detachDelay ?? Duration.seconds(5))

  /** The CSI volumes the node's pods need, by attachment name, in pod then volume order. */
  const wantedOn = Effect.fn("AttachDetach.wantedOn")(function* (nodeName: string) {
    const wanted = new Map<string, Wanted>()
    // Without a node, or without any claim in the cluster (most simulations), no pod needs a volume: no pod scan.
    if ((yield* nodeInformer.get(nodeName)) === undefined || (yield* claimInformer.list()).length === 0) return wanted
    for (const pod of yield* podInformer.list()) {
      if (Objects.nodeNameOf(pod) !== nodeName || Pod.isTerminal(pod)) continue
      for (const key of VolumeTopology.volumeClaimsOf(pod)) {
        const volumeName = (yield* claimInformer.get(key))?.spec.volumeName
        if (volumeName === undefined || volumeName === "") continue
        const csi = (yield* volumeInformer.get(volumeName))?.spec.csi
        if (csi === undefined) continue
        const name = attachmentName(csi.volumeHandle ?? volumeName, csi.driver, nodeName)
        wanted.set(name, { name, volume: volumeName, driver: csi.driver })
      }
    }
    return wanted
  })

  /** The external-attacher's report that the volume is attached. */
  const markAttached = (attachment: Storage.VolumeAttachment) =>
    kube.patch(
      Resources.VolumeAttachments,
      attachment.metadata.name ?? "",
      {
        type: "merge",
        patch: { metadata: { resourceVersion: attachment.metadata.resourceVersion }, status: { attached: true } }
      },
      { subresource: "status" }
    )

  const attach = Effect.fn("AttachDetach.attach")(function* (nodeName: string, wanted: Wanted) {
    const created = yield* kube.create(Resources.VolumeAttachments, {
      apiVersion: Resources.VolumeAttachments.apiVersion,
      kind: Resources.VolumeAttachments.kind,
      metadata: { name: wanted.name, finalizers: [attacherFinalizer(wanted.driver)] },
      spec: { attacher: wanted.driver, nodeName, source: { persistentVolumeName: wanted.volume } }
    })
    yield* markAttached(created)
  })

  /** The driver is done detaching: its finalizer goes (a JSON patch that tests the entry it removes). */
  const detached = Effect.fn("AttachDetach.detached")(function* (attachment: Storage.VolumeAttachment) {
    const index = (attachment.metadata.finalizers ?? []).indexOf(attacherFinalizer(attachment.spec.attacher))
    if (index < 0) return
    const path = `/metadata/finalizers/${index}`
    yield* kube.patch(Resources.VolumeAttachments, attachment.metadata.name ?? "", {
      type: "json",
      patch: [
        { op: "test", path, value: attacherFinalizer(attachment.spec.attacher) },
        { op: "remove", path }
      ]
    })
  })

  const controller = yield* Controller.make({
    name: "cluster.attachdetach",
    for: nodeInformer,
    watches: [
      // Only pods with claims can need a volume; other pods' changes would only cost a scan.
      {
        source: podInformer,
        map: (pod: Pod.Pod) => {
          const nodeName = Objects.nodeNameOf(pod)
          return nodeName === undefined || VolumeTopology.volumeClaimsOf(pod).length === 0 ? [] : [nodeName]
        }
      },
      { source: attachmentInformer, map: (attachment: Storage.VolumeAttachment) => [attachment.spec.nodeName] }
    ],
    reconcile: (nodeName) =>
      Effect.gen(function* () {
        const wanted = yield* wantedOn(nodeName)
        const now = yield* Clock.currentTimeMillis
        let recheck: number | undefined
        const existing = new Map<string, Storage.VolumeAttachment>()
        for (const attachment of yield* attachmentInformer.list()) {
          if (attachment.spec.nodeName !== nodeName) continue
          existing.set(attachment.metadata.name ?? "", attachment)
          if (wanted.has(attachment.metadata.name ?? "")) continue
          if (!Objects.isTerminating(attachment)) {
            yield* kube.delete(Resources.VolumeAttachments, attachment.metadata.name ?? "")
            continue
          }
          const doneAt = (Objects.millisOf(attachment.metadata.deletionTimestamp) ?? now) + detachMillis
          if (now >= doneAt) yield* detached(attachment)
          else recheck = Math.min(recheck ?? Number.POSITIVE_INFINITY, doneAt - now)
        }
        for (const volume of wanted.values()) {
          const attachment = existing.get(volume.name)
          // One still detaching is attached anew when its deletion comes through the informer.
          if (attachment === undefined) yield* attach(nodeName, volume)
          else if (!Objects.isTerminating(attachment) && attachment.status?.attached !== true) {
            yield* markAttached(attachment)
          }
        }
        return recheck === undefined ? Result.done : Result.requeueAfter(Duration.millis(recheck))
      }).pipe(
        // A newer version, or one just created or removed, comes through the informers and reconciles again.
        Effect.catchTags({
          NotFound: () => Effect.succeed(Result.done),
          Conflict: () => Effect.succeed(Result.done),
          AlreadyExists: () => Effect.succeed(Result.done),
          Invalid: () => Effect.succeed(Result.done)
        })
      )
  })

  // A claim bound (or a volume created) after its pod started: the nodes of the pods using the claim look again.
  const recheckClaim = (claimKey: string | undefined) =>
    claimKey === undefined
      ? Effect.void
      : Effect.flatMap(podInformer.list(), (pods) =>
          Effect.forEach(
            pods.filter((pod) => VolumeTopology.volumeClaimsOf(pod).includes(claimKey)),
            (pod) => {
              const nodeName = Objects.nodeNameOf(pod)
              return nodeName === undefined ? Effect.void : controller.enqueue(nodeName)
            },
            { discard: true }
          )
        )
  yield* Informer.forEachChange(claimInformer, (change) =>
    recheckClaim(`${change.object.metadata.namespace ?? "default"}/${change.object.metadata.name ?? ""}`)
  )
  yield* Informer.forEachChange(volumeInformer, (change) => {
    const claim = change.object.spec.claimRef
    return recheckClaim(claim?.name === undefined ? undefined : `${claim.namespace ?? "default"}/${claim.name}`)
  })
  return controller
})

/** The attach/detach emulation as a Layer: built, it runs until the Layer's scope closes. */
export const layer = (options?: Options): Layer.Layer<never, never, KubeClient | InformerCache.InformerCache> =>
  Layer.effectDiscard(make(options))
