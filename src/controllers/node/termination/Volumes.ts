/**
 * Which VolumeAttachments hold a drained node's termination (upstream `filterVolumeAttachments` in
 * `pkg/controllers/node/termination/controller.go`, v1.4.0): pods move smoothly with their PersistentVolumes only once
 * those are detached from the old node, so every attachment to the node counts, except the volumes of pods the drain
 * does not wait for (they stay on the node, their volumes attached, until the instance goes) and attachments without a
 * PersistentVolume (inline volumes). Pure functions over decoded objects; `now` is epoch milliseconds from the Clock.
 */
import type { Pod } from "../../../api/Pod.ts"
import type { VolumeAttachment } from "../../../api/Storage.ts"
import * as VolumeTopology from "../../../scheduling/VolumeTopology.ts"
import * as Pods from "./Pods.ts"

/**
 * The claims (`namespace/name`, named or generic ephemeral) of the node's pods that are not drainable (tolerating the
 * disrupted taint, stuck terminating, mirror pods), whatever their phase, as upstream lists them.
 */
export const undrainableClaims = (pods: ReadonlyArray<Pod>, now: number): ReadonlyArray<string> => {
  const claims = new Set<string>()
  for (const pod of pods) {
    if (Pods.isDrainable(pod, now)) continue
    for (const claim of VolumeTopology.volumeClaimsOf(pod)) claims.add(claim)
  }
  return [...claims]
}

/** The attachments still to wait for: of a PersistentVolume, and not one of `spared` (the undrainable pods' volumes). */
export const pending = (
  attachments: ReadonlyArray<VolumeAttachment>,
  spared: ReadonlySet<string>
): ReadonlyArray<VolumeAttachment> =>
  attachments.filter((attachment) => {
    const volume = attachment.spec.source.persistentVolumeName
    return volume !== undefined && !spared.has(volume)
  })
