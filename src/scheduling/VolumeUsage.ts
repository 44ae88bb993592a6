/**
 * Volume limits (upstream `pkg/scheduling/volumeusage.go`): a node can attach only so many volumes of each CSI driver
 * (its CSINode's `allocatable.count`). A pod fits when the distinct claims per driver on the node, with its own, stay
 * within the limit. Only existing nodes have limits; new NodeClaims have none yet.
 */
import type * as Pod from "../api/Pod.ts"
import * as VolumeTopology from "./VolumeTopology.ts"

/** Claims (`namespace/name`) per CSI driver. */
export type Volumes = ReadonlyMap<string, ReadonlySet<string>>

/** No volumes. */
export const none: Volumes = new Map()

/**
 * The pod's claims per driver: a bound claim's PersistentVolume names its CSI driver; an unbound one will be
 * provisioned by its StorageClass's provisioner. Claims whose driver cannot be told are not counted.
 */
export const volumesOf = (pod: Pod.Pod, context: VolumeTopology.VolumeContext): Volumes => {
  const claims = VolumeTopology.volumeClaimsOf(pod)
  if (claims.length === 0) return none
  const result = new Map<string, Set<string>>()
  for (const key of claims) {
    const claim = context.pvcs.get(key)
    const volumeName = claim?.spec.volumeName
    const driver =
      volumeName !== undefined && volumeName !== ""
        ? context.pvs.get(volumeName)?.spec.csi?.driver
        : context.storageClasses.get(claim?.spec.storageClassName ?? "")?.provisioner
    if (driver === undefined) continue
    let set = result.get(driver)
    if (set === undefined) {
      set = new Set()
      result.set(driver, set)
    }
    set.add(key)
  }
  return result
}

/** The volumes on one node and its limits. */
export class VolumeUsage {
  private readonly inUse = new Map<string, Set<string>>()

  constructor(private readonly limits: ReadonlyMap<string, number>) {}

  /** Why the pod's volumes would exceed a limit, or undefined. */
  exceeds(volumes: Volumes): string | undefined {
    for (const [driver, claims] of volumes) {
      const limit = this.limits.get(driver)
      if (limit === undefined) continue
      const current = this.inUse.get(driver)
      let count = current?.size ?? 0
      for (const claim of claims) if (current === undefined || !current.has(claim)) count++
      if (count > limit) return `would exceed the node's limit of ${limit} ${driver} volumes`
    }
    return undefined
  }

  add(volumes: Volumes): void {
    for (const [driver, claims] of volumes) {
      let set = this.inUse.get(driver)
      if (set === undefined) {
        set = new Set()
        this.inUse.set(driver, set)
      }
      for (const claim of claims) set.add(claim)
    }
  }

  copy(): VolumeUsage {
    const copy = new VolumeUsage(this.limits)
    copy.add(this.inUse)
    return copy
  }
}
