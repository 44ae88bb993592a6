/**
 * The NodeClaim lifecycle (upstream `pkg/controllers/nodeclaim/lifecycle`): launch the instance, register the Node
 * that joins with its providerID, mark the NodeClaim initialized once the Node is ready, give up on a NodeClaim whose
 * Node never registers (the 15-minute liveness TTL), and finalize deleted NodeClaims by terminating the instance.
 */
import { Clock, Duration, Effect, Metric } from "effect"
import * as ConditionTypes from "../../../api/Conditions.ts"
import * as ApiDuration from "../../../api/Duration.ts"
import * as Labels from "../../../api/Labels.ts"
import type { Node } from "../../../api/Node.ts"
import * as NodeApi from "../../../api/Node.ts"
import type { NodeClaim } from "../../../api/NodeClaim.ts"
import * as Taints from "../../../api/Taints.ts"
import * as CloudProvider from "../../../cloudprovider/CloudProvider.ts"
import { EventRecorder } from "../../../kube/EventRecorder.ts"
import { KubeClient } from "../../../kube/KubeClient.ts"
import * as Resources from "../../../kube/Resources.ts"
import * as Controller from "../../../runtime/Controller.ts"
import * as Informer from "../../../runtime/Informer.ts"
import * as Result from "../../../runtime/Result.ts"
import * as ResourceMath from "../../../scheduling/Resources.ts"
import * as Conditions from "../../Conditions.ts"
import * as TerminationEvents from "../../node/termination/Events.ts"
import * as InstanceTermination from "../../node/termination/InstanceTermination.ts"
import * as TerminationMetrics from "../../node/termination/Metrics.ts"
import * as RegistrationHealth from "../../nodepool/registrationhealth/RegistrationHealth.ts"
import * as Metrics from "./Metrics.ts"

/** A NodeClaim whose Node has not registered by then is deleted (upstream's registration TTL). */
export const registrationTTL = Duration.minutes(15)

/**
 * How long the NodeClaim `CloudProvider.create` returned is remembered by NodeClaim UID (upstream's launch cache):
 * a reconcile that reads a NodeClaim from the informer before its Launched=True status arrives reuses it instead of
 * launching a second instance.
 */
export const launchCacheTTL = Duration.minutes(1)

/** Upstream truncates a generic launch error to 300 characters on the Launched condition. */
const truncateMessage = (message: string): string => (message.length < 300 ? message : `${message.slice(0, 300)}...`)

/** The errors of `create` that leave the NodeClaim in place, Launched=Unknown, for a retry with backoff. */
type LaunchError = CloudProvider.CreateError | CloudProvider.CloudProviderError

/** What launching did: deleted the NodeClaim (no capacity, NodeClass not ready), launched it, or failed. */
type LaunchOutcome =
  | { readonly _tag: "Deleted" }
  | { readonly _tag: "Launched"; readonly claim: NodeClaim }
  | { readonly _tag: "Failed"; readonly claim: NodeClaim; readonly error: LaunchError }

/** The sooner of two results (upstream `result.Min`). */
const earliest = (a: Result.Result, b: Result.Result): Result.Result =>
  a._tag === "Done" ? b : b._tag === "Done" ? a : Duration.isLessThanOrEqualTo(a.delay, b.delay) ? a : b

const dependents = ConditionTypes.NodeClaimReadyDependents

const hasFinalizer = (object: { readonly metadata: { readonly finalizers?: ReadonlyArray<string> } }) =>
  (object.metadata.finalizers ?? []).includes(Labels.TerminationFinalizer)

const reference = (claim: NodeClaim) => ({
  apiVersion: "karpenter.sh/v1",
  kind: "NodeClaim",
  name: claim.metadata.name ?? "",
  ...(claim.metadata.uid === undefined ? {} : { uid: claim.metadata.uid })
})

/** Starts the lifecycle controller in the current Scope. */
export const make = Effect.gen(function* () {
  const kube = yield* KubeClient
  const cloud = yield* CloudProvider.CloudProvider
  const events = yield* EventRecorder
  const nodes = yield* Informer.make(Resources.Nodes)
  const nodeClaims = yield* Informer.make(Resources.NodeClaims)

  const nodesOf = (claim: NodeClaim) =>
    Effect.map(nodes.list(), (all) =>
      claim.status?.providerID === undefined
        ? []
        : all.filter((node) => node.spec.providerID === claim.status?.providerID)
    )

  /** Writes the NodeClaim's status: `change` edits fields and conditions; no write when nothing changed. */
  const writeStatus = Effect.fn("Lifecycle.writeStatus")(function* (
    claim: NodeClaim,
    change: (status: NonNullable<NodeClaim["status"]>, now: number) => NonNullable<NodeClaim["status"]>
  ) {
    const now = yield* Clock.currentTimeMillis
    const before = claim.status ?? {}
    const after = change(before, now)
    if (after === before) return claim
    return yield* kube.patch(
      Resources.NodeClaims,
      claim.metadata.name ?? "",
      { type: "merge", patch: { metadata: { resourceVersion: claim.metadata.resourceVersion }, status: after } },
      { subresource: "status" }
    )
  })

  const condition = (claim: NodeClaim, input: Conditions.Input) =>
    writeStatus(claim, (status, now) => {
      const conditions = Conditions.setWithRoot(status.conditions, input, dependents, {
        generation: claim.metadata.generation,
        now,
        createdAt: claim.metadata.creationTimestamp
      })
      return conditions === status.conditions ? status : { ...status, conditions: [...conditions] }
    })

  // Upstream's launch cache: created NodeClaims by UID, each until its expiry (Clock millis).
  const launchCache = new Map<string, { readonly created: NodeClaim; readonly expiresAt: number }>()

  const cachedLaunch = (uid: string | undefined, now: number): NodeClaim | undefined => {
    if (uid === undefined) return undefined
    const entry = launchCache.get(uid)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      launchCache.delete(uid)
      return undefined
    }
    return entry.created
  }

  const rememberLaunch = (uid: string | undefined, created: NodeClaim, now: number): void => {
    if (uid === undefined) return
    for (const [key, entry] of launchCache) if (entry.expiresAt <= now) launchCache.delete(key)
    launchCache.set(uid, { created, expiresAt: now + Duration.toMillis(launchCacheTTL) })
  }

  /**
   * Upstream `Launch`: the instance created for this NodeClaim (from the launch cache if a previous reconcile created
   * it, else `CloudProvider.create`) goes on the NodeClaim with Launched=True. No capacity or NodeClass deletes the
   * NodeClaim; any other error sets Launched=Unknown (the CreateError's reason and message, else `LaunchFailed` and
   * the error) and is returned for a retry with backoff.
   */
  const launch = Effect.fn("Lifecycle.launch")(function* (claim: NodeClaim) {
    const uid = claim.metadata.uid
    const cached = cachedLaunch(uid, yield* Clock.currentTimeMillis)
    const launched =
      cached !== undefined
        ? { ok: true as const, value: cached }
        : yield* cloud.create(claim).pipe(
            Effect.map((value) => ({ ok: true as const, value })),
            Effect.catchTags({
              InsufficientCapacity: (error) => Effect.succeed({ ok: false as const, error }),
              NodeClassNotReady: (error) => Effect.succeed({ ok: false as const, error }),
              CreateError: (error) => Effect.succeed({ ok: false as const, error }),
              CloudProviderError: (error) => Effect.succeed({ ok: false as const, error })
            })
          )
    if (!launched.ok && (launched.error._tag === "CreateError" || launched.error._tag === "CloudProviderError")) {
      const error = launched.error
      const failed = yield* condition(
        claim,
        error._tag === "CreateError"
          ? {
              type: ConditionTypes.Launched,
              status: "Unknown",
              reason: error.conditionReason,
              message: error.conditionMessage
            }
          : {
              type: ConditionTypes.Launched,
              status: "Unknown",
              reason: ConditionTypes.LaunchFailed,
              message: truncateMessage(error.message)
            }
      )
      return { _tag: "Failed", claim: failed, error } satisfies LaunchOutcome as LaunchOutcome
    }
    if (!launched.ok) {
      // No capacity or NodeClass now: give the pods back to the provisioner, which will try other options.
      yield* events.publish({
        involvedObject: reference(claim),
        type: "Warning",
        reason: launched.error._tag === "InsufficientCapacity" ? "InsufficientCapacityError" : "NodeClassNotReady",
        message: `NodeClaim ${claim.metadata.name} event: Failed to launch node, ${launched.error.message}`
      })
      yield* Metrics.disrupted(
        claim,
        launched.error._tag === "InsufficientCapacity" ? "insufficient_capacity" : "nodeclass_not_ready"
      )
      yield* kube
        .delete(Resources.NodeClaims, claim.metadata.name ?? "")
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
      return { _tag: "Deleted" } satisfies LaunchOutcome as LaunchOutcome
    }
    const created = launched.value
    rememberLaunch(uid, created, yield* Clock.currentTimeMillis)
    const labelled = yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      patch: { metadata: { labels: created.metadata.labels ?? {} } }
    })
    const written = yield* writeStatus(labelled, (status, now) => ({
      ...status,
      ...(created.status?.providerID === undefined ? {} : { providerID: created.status.providerID }),
      ...(created.status?.imageID === undefined ? {} : { imageID: created.status.imageID }),
      ...(created.status?.capacity === undefined ? {} : { capacity: created.status.capacity }),
      ...(created.status?.allocatable === undefined ? {} : { allocatable: created.status.allocatable }),
      conditions: [
        ...Conditions.setWithRoot(status.conditions, { type: ConditionTypes.Launched, status: "True" }, dependents, {
          generation: labelled.metadata.generation,
          now,
          createdAt: labelled.metadata.creationTimestamp
        })
      ]
    }))
    // Logged once per instance: a launch taken from the cache was logged when it happened.
    if (cached === undefined) {
      yield* Effect.logInfo("launched nodeclaim").pipe(
        Effect.annotateLogs({
          NodeClaim: { name: claim.metadata.name },
          "provider-id": created.status?.providerID ?? "",
          "instance-type": created.metadata.labels?.[Labels.InstanceType] ?? "",
          zone: created.metadata.labels?.[Labels.Zone] ?? "",
          "capacity-type": created.metadata.labels?.[Labels.CapacityType] ?? "",
          allocatable: created.status?.allocatable ?? {}
        })
      )
    }
    return { _tag: "Launched", claim: written } satisfies LaunchOutcome as LaunchOutcome
  })

  /**
   * Upstream `Registration`: finds the Node with the NodeClaim's providerID, syncs it and sets Registered=True (and
   * the NodePool's NodeRegistrationHealthy=True). Returns the NodeClaim as written, for Liveness.
   */
  const register = Effect.fn("Lifecycle.register")(function* (claim: NodeClaim) {
    const found = yield* nodesOf(claim)
    const nodePool = claim.metadata.labels?.[Labels.NodePool]
    if (found.length === 0) {
      const waiting = yield* condition(claim, {
        type: ConditionTypes.Registered,
        status: "Unknown",
        reason: ConditionTypes.NodeNotFound,
        message: "Node not registered with cluster"
      })
      // Liveness requeues at the registration TTL; the Node's arrival (a watched change) brings it back sooner.
      return { claim: waiting, result: Result.done }
    }
    if (found.length > 1) {
      const conflicting = yield* condition(claim, {
        type: ConditionTypes.Registered,
        status: "False",
        reason: ConditionTypes.MultipleNodesFound,
        message: `found ${found.length} nodes with providerID ${claim.status?.providerID}`
      })
      return { claim: conflicting, result: Result.done }
    }
    const node = found[0]!
    yield* syncNode(claim, node)
    const registered = yield* writeStatus(claim, (status, now) => ({
      ...status,
      nodeName: node.metadata.name ?? "",
      conditions: [
        ...Conditions.setWithRoot(status.conditions, { type: ConditionTypes.Registered, status: "True" }, dependents, {
          generation: claim.metadata.generation,
          now,
          createdAt: claim.metadata.creationTimestamp
        })
      ]
    }))
    if (nodePool !== undefined) yield* RegistrationHealth.markHealthy(nodePool)
    if (!Conditions.isTrue(claim.status?.conditions, ConditionTypes.Registered)) {
      yield* Effect.logInfo("registered nodeclaim").pipe(
        Effect.annotateLogs({ NodeClaim: { name: claim.metadata.name }, Node: { name: node.metadata.name } })
      )
      yield* Metric.update(Metric.withAttributes(Metrics.nodesCreatedTotal, { nodepool: nodePool ?? "" }), 1)
    }
    return { claim: registered, result: registered === claim ? Result.done : Result.requeue }
  })

  /**
   * Upstream `Liveness`, run on every reconcile whatever the other steps did: a NodeClaim not Registered
   * {@link registrationTTL} after its creation (whether its launch keeps failing or its Node never joined) is
   * deleted, and its NodePool's NodeRegistrationHealthy goes False if Unknown: `RegistrationFailed` if it had
   * launched, else the Launched condition's reason and message. Before the TTL, requeues at it. Returns whether it
   * deleted the NodeClaim.
   */
  const liveness = Effect.fn("Lifecycle.liveness")(function* (claim: NodeClaim) {
    if (Conditions.isTrue(claim.status?.conditions, ConditionTypes.Registered)) {
      return { deleted: false, result: Result.done }
    }
    const createdAt = Date.parse(claim.metadata.creationTimestamp ?? "")
    if (Number.isNaN(createdAt)) return { deleted: false, result: Result.done }
    const age = (yield* Clock.currentTimeMillis) - createdAt
    const ttl = Duration.toMillis(registrationTTL)
    if (age < ttl) return { deleted: false, result: Result.requeueAfter(Duration.millis(ttl - age)) }
    const nodePool = claim.metadata.labels?.[Labels.NodePool]
    const launchedCondition = Conditions.get(claim.status?.conditions, ConditionTypes.Launched)
    if (nodePool !== undefined && nodePool !== "") {
      const launched = launchedCondition?.status === "True"
      yield* RegistrationHealth.markUnhealthy(
        nodePool,
        launched ? ConditionTypes.RegistrationFailed : (launchedCondition?.reason ?? ConditionTypes.RegistrationFailed),
        launched ? "Failed to register node" : (launchedCondition?.message ?? "Failed to register node")
      )
    }
    yield* events.publish({
      involvedObject: reference(claim),
      type: "Normal",
      reason: "Disrupted",
      message: `Disrupting NodeClaim: Liveness - node did not register within ${Duration.format(registrationTTL)}`
    })
    yield* Metrics.disrupted(claim, "liveness")
    yield* kube
      .delete(Resources.NodeClaims, claim.metadata.name ?? "")
      .pipe(Effect.catchTag("NotFound", () => Effect.void))
    return { deleted: true, result: Result.done }
  })

  /**
   * Upstream `syncNode`: the Node takes the NodeClaim's labels and annotations (the NodeClaim's value wins on a shared
   * key), its taints then startup taints (a key and effect already on the Node keeps the Node's taint), its owner
   * reference and the termination finalizer; the unregistered taint goes.
   */
  const syncNode = Effect.fn("Lifecycle.syncNode")(function* (claim: NodeClaim, node: Node) {
    const taints = Taints.merge(
      Taints.merge(node.spec.taints ?? [], claim.spec.taints ?? []),
      claim.spec.startupTaints ?? []
    ).filter((taint) => !Taints.matches(taint, Taints.UnregisteredNoExecute))
    const owners = node.metadata.ownerReferences ?? []
    yield* kube.patch(Resources.Nodes, node.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: node.metadata.resourceVersion,
          labels: { ...claim.metadata.labels, [Labels.NodeRegistered]: "true" },
          annotations: { ...claim.metadata.annotations },
          finalizers: hasFinalizer(node)
            ? node.metadata.finalizers
            : [...(node.metadata.finalizers ?? []), Labels.TerminationFinalizer],
          // Appended to the Node's own, as upstream; once, should registration run again after a failed status write.
          ownerReferences: owners.some((owner) => owner.uid === claim.metadata.uid)
            ? owners
            : [
                ...owners,
                {
                  apiVersion: "karpenter.sh/v1",
                  kind: "NodeClaim",
                  name: claim.metadata.name ?? "",
                  uid: claim.metadata.uid ?? "",
                  blockOwnerDeletion: true
                }
              ]
        },
        spec: { taints }
      }
    })
  })

  const initialize = Effect.fn("Lifecycle.initialize")(function* (claim: NodeClaim) {
    const [node] = yield* nodesOf(claim)
    const unknown = (reason: string, message: string) =>
      Effect.as(condition(claim, { type: ConditionTypes.Initialized, status: "Unknown", reason, message }), Result.done)
    if (node === undefined) return yield* unknown(ConditionTypes.NodeNotFound, "Node not registered with cluster")
    if (!NodeApi.isReady(node)) return yield* unknown(ConditionTypes.NodeNotReady, "Node status is NotReady")
    const taints = node.spec.taints ?? []
    const startup = (claim.spec.startupTaints ?? []).find((startupTaint) =>
      taints.some((taint) => Taints.matches(taint, startupTaint))
    )
    if (startup !== undefined)
      return yield* unknown(ConditionTypes.StartupTaintsExist, `StartupTaint "${startup.key}" still exists`)
    const ephemeral = Taints.KnownEphemeral.find((known) => taints.some((taint) => Taints.matches(taint, known)))
    if (ephemeral !== undefined) {
      return yield* unknown(
        ConditionTypes.KnownEphemeralTaintsExist,
        `KnownEphemeralTaint "${ephemeral.key}" still exists`
      )
    }
    const allocatable = ResourceMath.fromResourceList(node.status?.allocatable)
    const missing = Object.entries(ResourceMath.fromResourceList(claim.spec.resources?.requests)).find(
      ([name, quantity]) => quantity > 0 && (allocatable[name] ?? 0) <= 0
    )
    if (missing !== undefined)
      return yield* unknown(
        ConditionTypes.ResourceNotRegistered,
        `Resource "${missing[0]}" was requested but not registered`
      )
    if (node.metadata.labels?.[Labels.NodeInitialized] !== "true") {
      yield* kube.patch(Resources.Nodes, node.metadata.name ?? "", {
        type: "merge",
        patch: { metadata: { labels: { [Labels.NodeInitialized]: "true" } } }
      })
    }
    yield* condition(claim, { type: ConditionTypes.Initialized, status: "True" })
    if (!Conditions.isTrue(claim.status?.conditions, ConditionTypes.Initialized)) {
      yield* Effect.logInfo("initialized nodeclaim").pipe(
        Effect.annotateLogs({
          NodeClaim: { name: claim.metadata.name },
          Node: { name: node.metadata.name },
          allocatable: node.status?.allocatable ?? {}
        })
      )
    }
    return Result.done
  })

  /**
   * With a `spec.terminationGracePeriod`, the time by which the Node must be gone (deletionTimestamp + TGP, RFC 3339)
   * goes on the NodeClaim once, as `karpenter.sh/nodeclaim-termination-timestamp`: node termination forces pods off
   * by then (upstream `ensureTerminationGracePeriodTerminationTimeAnnotation`). Returns the NodeClaim as written.
   */
  const annotateTerminationTime = Effect.fn("Lifecycle.annotateTerminationTime")(function* (claim: NodeClaim) {
    if (claim.metadata.annotations?.[Labels.NodeClaimTerminationTimestampAnnotation] !== undefined) return claim
    const grace =
      claim.spec.terminationGracePeriod === undefined
        ? undefined
        : ApiDuration.toMillis(claim.spec.terminationGracePeriod)
    const deletedAt = Date.parse(claim.metadata.deletionTimestamp ?? "")
    if (grace === undefined || grace === null || Number.isNaN(deletedAt)) return claim
    const terminationTime = Conditions.timestamp(deletedAt + grace)
    // Optimistic lock: node repair may write the annotation meanwhile, and its value must win.
    const annotated = yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: claim.metadata.resourceVersion,
          annotations: { [Labels.NodeClaimTerminationTimestampAnnotation]: terminationTime }
        }
      }
    })
    yield* Effect.logInfo("annotated nodeclaim").pipe(
      Effect.annotateLogs({ [Labels.NodeClaimTerminationTimestampAnnotation]: terminationTime })
    )
    yield* events.publish(
      TerminationEvents.nodeClaimTerminationGracePeriodExpiring(
        { name: claim.metadata.name ?? "", uid: claim.metadata.uid },
        terminationTime
      )
    )
    return annotated
  })

  /**
   * The NodeClaim finalizer (upstream `finalize`, v1.4.0): annotate the termination time; if Registered, delete the
   * Node(s) with its providerID and wait for them to be gone (node termination drains them; their removal, a watched
   * change, brings the NodeClaim back here); terminate the instance until the provider reports it gone (every 5 s);
   * then remove the finalizer. A Conflict requeues, a NotFound ends (the reconcile wrapper maps them).
   */
  const finalize = Effect.fn("Lifecycle.finalize")(function* (found: NodeClaim) {
    if (!hasFinalizer(found)) return Result.done
    let claim = yield* annotateTerminationTime(found)
    if (Conditions.isTrue(claim.status?.conditions, ConditionTypes.Registered)) {
      const registered = yield* nodesOf(claim)
      for (const node of registered) {
        if (node.metadata.deletionTimestamp !== undefined) continue
        yield* kube
          .delete(Resources.Nodes, node.metadata.name ?? "")
          .pipe(Effect.catchTag("NotFound", () => Effect.void))
      }
      if (registered.length > 0) return Result.done
    }
    const nodePool = claim.metadata.labels?.[Labels.NodePool] ?? ""
    // No providerID: the launch failed, there is no instance to terminate.
    if (claim.status?.providerID !== undefined && claim.status.providerID !== "") {
      const termination = yield* InstanceTermination.ensureTerminated(claim)
      if (!termination.terminated) return Result.requeueAfter("5 seconds")
      claim = termination.nodeClaim
      const since = Date.parse(
        Conditions.get(claim.status?.conditions, ConditionTypes.InstanceTerminating)?.lastTransitionTime ?? ""
      )
      if (!Number.isNaN(since)) {
        yield* Metric.update(
          Metric.withAttributes(TerminationMetrics.nodeClaimsInstanceTerminationDurationSeconds, {
            nodepool: nodePool
          }),
          ((yield* Clock.currentTimeMillis) - since) / 1000
        )
      }
    }
    yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: claim.metadata.resourceVersion,
          finalizers: (claim.metadata.finalizers ?? []).filter((finalizer) => finalizer !== Labels.TerminationFinalizer)
        }
      }
    })
    yield* Effect.logInfo("deleted nodeclaim")
    const deletedAt = Date.parse(found.metadata.deletionTimestamp ?? "")
    if (!Number.isNaN(deletedAt)) {
      yield* Metric.update(
        Metric.withAttributes(TerminationMetrics.nodeClaimsTerminationDurationSeconds, { nodepool: nodePool }),
        ((yield* Clock.currentTimeMillis) - deletedAt) / 1000
      )
    }
    yield* Metric.update(
      Metric.withAttributes(TerminationMetrics.nodeClaimsTerminatedTotal, {
        nodepool: nodePool,
        capacity_type: claim.metadata.labels?.[Labels.CapacityType] ?? ""
      }),
      1
    )
    return Result.done
  })

  const reconcile = Effect.fn("Lifecycle.reconcile")(function* (claim: NodeClaim) {
    if (claim.metadata.deletionTimestamp !== undefined) return yield* finalize(claim)
    if (!hasFinalizer(claim)) {
      yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
        type: "merge",
        patch: {
          metadata: {
            resourceVersion: claim.metadata.resourceVersion,
            finalizers: [...(claim.metadata.finalizers ?? []), Labels.TerminationFinalizer]
          }
        }
      })
      return Result.requeue
    }
    // One step per pass (launch, then registration, then initialization), then Liveness on the NodeClaim as the
    // step left it, as upstream runs it after every other sub-reconciler.
    const conditions = claim.status?.conditions
    let current = claim
    let result: Result.Result = Result.done
    let launchError: LaunchError | undefined
    if (!Conditions.isTrue(conditions, ConditionTypes.Launched)) {
      const launched = yield* launch(claim)
      if (launched._tag === "Deleted") return Result.done
      current = launched.claim
      if (launched._tag === "Failed") launchError = launched.error
      else result = Result.requeue
    } else if (!Conditions.isTrue(conditions, ConditionTypes.Registered)) {
      const registered = yield* register(claim)
      current = registered.claim
      result = registered.result
    } else if (!Conditions.isTrue(conditions, ConditionTypes.Initialized)) {
      result = yield* initialize(claim)
    }
    const live = yield* liveness(current)
    if (live.deleted) return Result.done
    // A failed launch is retried with the controller's backoff (1 s doubling up to 1 min, as upstream's), which also
    // brings Liveness back by the registration TTL.
    if (launchError !== undefined) return yield* Effect.fail(launchError)
    return earliest(result, live.result)
  })

  // Nodes name no NodeClaim; the providerID joins them.
  const claimNameByProviderID = new Map<string, string>()
  return yield* Controller.make({
    name: "nodeclaim.lifecycle",
    for: nodeClaims,
    concurrency: 10,
    // Upstream's lifecycle rate limiter: per-key exponential failure backoff from 1 s up to 1 min.
    backoff: { baseDelay: Duration.seconds(1), maxDelay: Duration.minutes(1) },
    watches: [
      {
        source: nodes,
        map: (node: Node) => {
          const name = node.spec.providerID === undefined ? undefined : claimNameByProviderID.get(node.spec.providerID)
          return name === undefined ? [] : [name]
        }
      }
    ],
    reconcile: (_key, claim) => {
      if (claim === undefined) return Effect.succeed(Result.done)
      if (claim.status?.providerID !== undefined)
        claimNameByProviderID.set(claim.status.providerID, claim.metadata.name ?? "")
      return reconcile(claim).pipe(
        // Someone else wrote the object meanwhile: look again with the new version.
        Effect.catchTags({
          Conflict: () => Effect.succeed(Result.requeue),
          NotFound: () => Effect.succeed(Result.done)
        })
      )
    }
  })
})
