/**
 * The `nodeclass` status controller of the AWS provider (upstream `pkg/controllers/nodeclass/controller.go`): resolves
 * an EC2NodeClass's AMIs, subnets, security groups, instance profile and (ReservedCapacity gate) capacity reservations
 * into its status, sets a condition for each and
 * `Ready` as their root, then writes the status in one optimistic-lock merge patch of the fields it owns. Every step
 * runs even when an earlier one failed (upstream appends the errors), and the object is queued again at the soonest
 * step's interval. Its finalizer holds a deleted EC2NodeClass until no NodeClaim uses it, then deletes the managed
 * instance profile and the node class's launch templates.
 */

import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import * as NodeClassRef from "../../../../src/api/NodeClassRef.ts"
import * as Conditions from "../../../../src/controllers/StatusConditions.ts"
import { EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as Controller from "../../../../src/runtime/Controller.ts"
import * as Indices from "../../../../src/runtime/Indices.ts"
import * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as Result from "../../../../src/runtime/Result.ts"
import * as Amis from "../providers/Amis.ts"
import * as CapacityReservations from "../providers/CapacityReservations.ts"
import * as InstanceProfiles from "../providers/InstanceProfiles.ts"
import * as SecurityGroups from "../providers/SecurityGroups.ts"
import * as SsmParameters from "../providers/SsmParameters.ts"
import * as Subnets from "../providers/Subnets.ts"
import { Ec2 } from "../sdk/Ec2.ts"
import type { Iam } from "../sdk/Iam.ts"

/** What the controller needs to know of the cluster it runs for. */
export interface Settings {
  /** Names the managed instance profiles and tags them (upstream `--cluster-name`). */
  readonly clusterName: string
  readonly region: string
  /** The Kubernetes minor version whose EKS-optimized AMIs an alias resolves to, e.g. `1.32`. */
  readonly kubernetesVersion: string
  /** The ReservedCapacity feature gate: capacity reservations are resolved, and Ready waits for them, only with it. */
  readonly reservedCapacity?: boolean
}

const {
  AMIsReady,
  SubnetsReady,
  SecurityGroupsReady,
  InstanceProfileReady,
  CapacityReservationsReady,
  ValidationSucceeded
} = EC2NodeClass.ConditionTypes

/** The dependents of `Ready` (upstream `StatusConditions`; CapacityReservationsReady only with the gate). */
export const readyDependents = (settings: Settings): ReadonlyArray<string> => [
  AMIsReady,
  SubnetsReady,
  SecurityGroupsReady,
  InstanceProfileReady,
  ValidationSucceeded,
  ...(settings.reservedCapacity === true ? [CapacityReservationsReady] : [])
]

/** The status fields this controller owns, and so writes. */
type OwnedStatus = Pick<
  EC2NodeClass.Status,
  "amis" | "subnets" | "securityGroups" | "instanceProfile" | "capacityReservations"
>

const ownedFields = ["amis", "subnets", "securityGroups", "instanceProfile", "capacityReservations"] as const

/** Fields a step resolved; one present as undefined resolved to nothing, and is cleared. */
type Fields = { readonly [K in keyof OwnedStatus]?: OwnedStatus[K] | undefined }

/** What one step resolved: its fields, its condition and when to look again. */
interface Outcome {
  readonly fields: Fields
  readonly condition: Conditions.Input
  readonly result: Result.Result
}

const ready = (type: string): Conditions.Input => ({ type, status: "True" })

/** upstream `AMI.Reconcile`: every 5 minutes, every minute while nothing matches. */
const amiStep = (
  nodeClass: EC2NodeClass.EC2NodeClass,
  parameters: SsmParameters.SsmParameters,
  settings: Settings,
  now: number
) =>
  Effect.map(
    Amis.list(nodeClass, parameters, settings.kubernetesVersion, now),
    (amis): Outcome =>
      amis.length === 0
        ? {
            fields: { amis: undefined },
            condition: {
              type: AMIsReady,
              status: "False",
              reason: "AMINotFound",
              message: "AMISelector did not match any AMIs"
            },
            result: Result.requeueAfter(Duration.minutes(1))
          }
        : {
            fields: {
              amis: amis.map((ami) => ({
                id: ami.id,
                name: ami.name,
                ...(ami.deprecated ? { deprecated: true } : {}),
                requirements: ami.requirements
              }))
            },
            condition: ready(AMIsReady),
            result: Result.requeueAfter(Duration.minutes(5))
          }
  )

/** upstream `Subnet.Reconcile`: every minute (available addresses change as nodes launch). */
const subnetStep = (nodeClass: EC2NodeClass.EC2NodeClass) =>
  Effect.map(
    Subnets.list(nodeClass),
    (subnets): Outcome => ({
      fields: {
        subnets:
          subnets.length === 0
            ? undefined
            : [...subnets].sort(Subnets.byAvailableAddresses).map((subnet) => ({
                id: subnet.SubnetId ?? "",
                zone: subnet.AvailabilityZone ?? "",
                zoneID: subnet.AvailabilityZoneId ?? ""
              }))
      },
      condition:
        subnets.length === 0
          ? {
              type: SubnetsReady,
              status: "False",
              reason: "SubnetsNotFound",
              message: "SubnetSelector did not match any Subnets"
            }
          : ready(SubnetsReady),
      result: Result.requeueAfter(Duration.minutes(1))
    })
  )

/** upstream `SecurityGroup.Reconcile`: every 5 minutes, every minute while nothing matches. */
const securityGroupStep = (nodeClass: EC2NodeClass.EC2NodeClass) =>
  Effect.map(
    SecurityGroups.list(nodeClass),
    (groups): Outcome =>
      groups.length === 0
        ? {
            fields: { securityGroups: undefined },
            condition: {
              type: SecurityGroupsReady,
              status: "False",
              reason: "SecurityGroupsNotFound",
              message: "SecurityGroupSelector did not match any SecurityGroups"
            },
            result: Result.requeueAfter(Duration.minutes(1))
          }
        : {
            fields: {
              securityGroups: [...groups]
                .sort((a, b) =>
                  (a.GroupId ?? "") < (b.GroupId ?? "") ? -1 : (a.GroupId ?? "") > (b.GroupId ?? "") ? 1 : 0
                )
                .map((group) => ({ id: group.GroupId ?? "", name: group.GroupName ?? "" }))
            },
            condition: ready(SecurityGroupsReady),
            result: Result.requeueAfter(Duration.minutes(5))
          }
  )

/** How often capacity reservations are described (upstream `capacityReservationPollPeriod`). */
const capacityReservationPollPeriod = Duration.minutes(1)

const instanceMatchCriteria = ["open", "targeted"] as const

/**
 * upstream `CapacityReservation.Reconcile`: the selected reservations by id, those with a match criteria the API
 * knows; every minute, sooner when one ends before that. Always Ready: a selector matching none is not an error.
 */
const capacityReservationStep = (nodeClass: EC2NodeClass.EC2NodeClass, now: number) =>
  Effect.map(CapacityReservations.list(nodeClass), (reservations): Outcome => {
    const sorted = [...reservations].sort((a, b) =>
      (a.CapacityReservationId ?? "") < (b.CapacityReservationId ?? "")
        ? -1
        : a.CapacityReservationId === b.CapacityReservationId
          ? 0
          : 1
    )
    // upstream `CapacityReservationFromEC2` refuses (and logs) a criteria added after it was written.
    const known = sorted.flatMap((reservation): Array<EC2NodeClass.CapacityReservation> => {
      const criteria = instanceMatchCriteria.find((value) => value === reservation.InstanceMatchCriteria)
      return criteria === undefined
        ? []
        : [
            {
              availabilityZone: reservation.AvailabilityZone ?? "",
              ...(reservation.EndDate === undefined ? {} : { endTime: reservation.EndDate.toISOString() }),
              id: reservation.CapacityReservationId ?? "",
              instanceMatchCriteria: criteria,
              instanceType: reservation.InstanceType ?? "",
              ownerID: reservation.OwnerId ?? ""
            }
          ]
    })
    const firstEnd = Math.min(
      ...sorted.map((reservation) => reservation.EndDate?.getTime() ?? Number.POSITIVE_INFINITY)
    )
    const untilEnd = firstEnd - now
    return {
      fields: { capacityReservations: reservations.length === 0 ? undefined : known },
      condition: ready(CapacityReservationsReady),
      result:
        untilEnd < Duration.toMillis(capacityReservationPollPeriod)
          ? Result.requeueAfter(Duration.millis(Math.max(untilEnd, 0)))
          : Result.requeueAfter(capacityReservationPollPeriod)
    }
  })

/** upstream `InstanceProfile.Reconcile`: a `role` gets a managed profile; an `instanceProfile` is copied unchecked. */
const instanceProfileStep = (
  nodeClass: EC2NodeClass.EC2NodeClass,
  profiles: InstanceProfiles.InstanceProfiles,
  settings: Settings
) => {
  const role = nodeClass.spec.role
  if (role === undefined || role === "") {
    return Effect.succeed<Outcome>({
      fields: { instanceProfile: nodeClass.spec.instanceProfile },
      condition: ready(InstanceProfileReady),
      result: Result.done
    })
  }
  const name = InstanceProfiles.nameOf(settings.clusterName, settings.region, nodeClass.metadata.name ?? "")
  return Effect.as(
    profiles.ensure(name, role, InstanceProfiles.tagsOf(settings.clusterName, settings.region, nodeClass)),
    { fields: { instanceProfile: name }, condition: ready(InstanceProfileReady), result: Result.done } satisfies Outcome
  )
}

const awaitingResolution = "Awaiting AMI, Instance Profile, Security Group, and Subnet resolution"

/**
 * upstream `Validation.Reconcile`, its dependency gate: False while a dependency is False, Unknown while one is
 * Unknown, else True. The dry-run launch authorization checks upstream runs next are not made yet.
 */
const validationOutcome = (conditions: EC2NodeClass.Status["conditions"]): Outcome => {
  const dependencies = [AMIsReady, SubnetsReady, SecurityGroupsReady, InstanceProfileReady]
  const condition: Conditions.Input = dependencies.some((type) => Conditions.isFalse(conditions, type))
    ? { type: ValidationSucceeded, status: "False", reason: "DependenciesNotReady", message: awaitingResolution }
    : dependencies.some((type) => Conditions.isUnknown(conditions, type))
      ? { type: ValidationSucceeded, status: "Unknown", reason: "DependenciesNotReady", message: awaitingResolution }
      : ready(ValidationSucceeded)
  return { fields: {}, condition, result: Result.done }
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/** Resolves one EC2NodeClass and patches its status; fails with the steps' errors after writing what succeeded. */
export const reconcile = Effect.fn("NodeClassStatus.reconcile")(function* (
  nodeClass: EC2NodeClass.EC2NodeClass,
  parameters: SsmParameters.SsmParameters,
  profiles: InstanceProfiles.InstanceProfiles,
  settings: Settings
) {
  const now = yield* Clock.currentTimeMillis
  const dependents = readyDependents(settings)
  const options: Conditions.Options = {
    generation: nodeClass.metadata.generation,
    now,
    createdAt: nodeClass.metadata.creationTimestamp,
    dependents
  }
  let conditions = Conditions.initialize(nodeClass.status?.conditions, dependents, options)
  const fields: { -readonly [K in keyof Fields]: Fields[K] } = {}
  const results: Array<Result.Result> = []
  const failures: Array<Cause.Cause<unknown>> = []
  const apply = (outcome: Outcome) => {
    Object.assign(fields, outcome.fields)
    conditions = Conditions.setWithRoot(conditions, outcome.condition, dependents, options)
    results.push(outcome.result)
  }
  const steps: ReadonlyArray<Effect.Effect<Outcome, unknown, Ec2 | CapacityReservations.CapacityReservations>> = [
    amiStep(nodeClass, parameters, settings, now),
    // Upstream skips the step without the gate, leaving the status as it was.
    ...(settings.reservedCapacity === true ? [capacityReservationStep(nodeClass, now)] : []),
    subnetStep(nodeClass),
    securityGroupStep(nodeClass),
    instanceProfileStep(nodeClass, profiles, settings)
  ]
  for (const step of steps) {
    const exit = yield* Effect.exit(step)
    if (Exit.isSuccess(exit)) apply(exit.value)
    else failures.push(exit.cause)
  }
  apply(validationOutcome(conditions))

  const stored = nodeClass.status ?? {}
  const changed = ownedFields.filter((field) => field in fields && !sameJson(fields[field], stored[field]))
  if (changed.length > 0 || conditions !== nodeClass.status?.conditions) {
    // A JSON merge patch replaces whole lists, so the resourceVersion guards a concurrent writer's conditions; null
    // removes a field that resolved to nothing, as upstream's nil does.
    const status: Record<string, unknown> = { conditions }
    for (const field of changed) status[field] = fields[field] ?? null
    const kube = yield* KubeClient
    yield* kube.patch(
      Resources.EC2NodeClasses,
      nodeClass.metadata.name ?? "",
      {
        type: "merge",
        patch: {
          metadata:
            nodeClass.metadata.resourceVersion === undefined
              ? {}
              : { resourceVersion: nodeClass.metadata.resourceVersion },
          status
        }
      },
      { subresource: "status" }
    )
  }
  const [first] = failures
  if (first !== undefined) return yield* Effect.failCause(first)
  return Result.min(...results)
})

/** upstream `v1.TerminationFinalizer`. */
export const TerminationFinalizer = "karpenter.k8s.aws/termination"

/** How often a deleted EC2NodeClass still in use looks again, and repeats its event (upstream: 10 minutes). */
const inUseRequeue = Duration.minutes(10)

/**
 * Merge-patches the finalizers with the resourceVersion as a precondition: a merge patch replaces the whole list, so
 * another writer's finalizer would be lost without the lock (upstream `MergeFromWithOptimisticLock`).
 */
const patchFinalizers = (nodeClass: EC2NodeClass.EC2NodeClass, finalizers: ReadonlyArray<string>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) =>
    kube.patch(Resources.EC2NodeClasses, nodeClass.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          finalizers,
          ...(nodeClass.metadata.resourceVersion === undefined
            ? {}
            : { resourceVersion: nodeClass.metadata.resourceVersion })
        }
      }
    })
  )

/** The launch templates Karpenter made for the node class (upstream `launchtemplate.DefaultProvider.DeleteAll`). */
const deleteLaunchTemplates = Effect.fn("NodeClassStatus.deleteLaunchTemplates")(function* (
  nodeClass: EC2NodeClass.EC2NodeClass,
  settings: Settings
) {
  const ec2 = yield* Ec2
  const templates = yield* ec2.describeLaunchTemplates({
    Filters: [
      { Name: `tag:${InstanceProfiles.EksClusterNameTag}`, Values: [settings.clusterName] },
      { Name: `tag:${EC2NodeClass.NodeClassLabel}`, Values: [nodeClass.metadata.name ?? ""] }
    ]
  })
  // Every template is tried; the first failure is reported after (upstream's multierr).
  const exits = yield* Effect.forEach(templates, (template) =>
    Effect.exit(ec2.deleteLaunchTemplate({ LaunchTemplateName: template.LaunchTemplateName }))
  )
  const failed = exits.find(Exit.isFailure)
  if (failed !== undefined) return yield* failed
})

const nodeClassKey = (name: string) => NodeClassRef.key({ group: EC2NodeClass.group, kind: EC2NodeClass.kind, name })

/** Starts the `nodeclass` controller over every EC2NodeClass (ten workers, as upstream). */
export const make = Effect.fn("NodeClassStatus.make")(function* (settings: Settings) {
  const services = yield* Effect.context<KubeClient | Ec2 | Iam | CapacityReservations.CapacityReservations>()
  const recorder = yield* EventRecorder
  const parameters = yield* SsmParameters.make
  const profiles = yield* InstanceProfiles.make
  const nodeClaims = yield* InformerCache.informer(Resources.NodeClaims)
  const nodeClasses = yield* InformerCache.informer(Resources.EC2NodeClasses)

  // upstream `finalize`: waits for the NodeClaims of the node class, then deletes what Karpenter made for it.
  const finalize = Effect.fn("NodeClassStatus.finalize")(function* (nodeClass: EC2NodeClass.EC2NodeClass) {
    const finalizers = nodeClass.metadata.finalizers ?? []
    if (!finalizers.includes(TerminationFinalizer)) return Result.done
    const name = nodeClass.metadata.name ?? ""
    const users = yield* nodeClaims.byIndex(Indices.nodeClaimNodeClass, nodeClassKey(name))
    if (users.length > 0) {
      const names = users.map((claim) => claim.metadata.name ?? "").sort()
      yield* recorder.publish({
        involvedObject: {
          apiVersion: EC2NodeClass.apiVersion,
          kind: EC2NodeClass.kind,
          name,
          ...(nodeClass.metadata.uid === undefined ? {} : { uid: nodeClass.metadata.uid })
        },
        type: "Normal",
        reason: "WaitingOnNodeClaimTermination",
        // upstream `PrettySlice(names, 5)`.
        message: `Waiting on NodeClaim termination for ${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} other(s)` : ""}`
      })
      return Result.requeueAfter(inUseRequeue)
    }
    if (nodeClass.spec.role !== undefined && nodeClass.spec.role !== "") {
      yield* profiles.remove(InstanceProfiles.nameOf(settings.clusterName, settings.region, name))
    }
    yield* deleteLaunchTemplates(nodeClass, settings)
    yield* patchFinalizers(
      nodeClass,
      finalizers.filter((finalizer) => finalizer !== TerminationFinalizer)
    )
    return Result.done
  })

  const reconcileLive = Effect.fn("NodeClassStatus.reconcileLive")(function* (nodeClass: EC2NodeClass.EC2NodeClass) {
    const finalizers = nodeClass.metadata.finalizers ?? []
    if (!finalizers.includes(TerminationFinalizer)) {
      // The status patch then goes on the newer version the finalizer patch answered.
      const updated = yield* patchFinalizers(nodeClass, [...finalizers, TerminationFinalizer])
      return yield* reconcile(updated, parameters, profiles, settings)
    }
    return yield* reconcile(nodeClass, parameters, profiles, settings)
  })

  return yield* Controller.make({
    name: "nodeclass",
    for: nodeClasses,
    // upstream watches NodeClaim deletions, so a deleted node class waiting on them is finalized as the last goes;
    // the watch here sees every change, so only a node class being deleted is queued.
    watches: [
      {
        source: nodeClaims,
        map: (claim: NodeClaim) => {
          const ref = claim.spec.nodeClassRef
          if (ref.group !== EC2NodeClass.group || ref.kind !== EC2NodeClass.kind) return []
          return Effect.map(nodeClasses.get(ref.name), (nodeClass) =>
            nodeClass?.metadata.deletionTimestamp === undefined ? [] : [ref.name]
          )
        }
      }
    ],
    concurrency: 10,
    reconcile: (_key, nodeClass) =>
      nodeClass === undefined
        ? Effect.succeed(Result.done)
        : Effect.provideContext(
            nodeClass.metadata.deletionTimestamp !== undefined ? finalize(nodeClass) : reconcileLive(nodeClass),
            services
          )
  })
})
