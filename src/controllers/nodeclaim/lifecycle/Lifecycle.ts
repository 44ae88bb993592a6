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

/** A NodeClaim whose Node has not registered by then is deleted (upstream's registration TTL). */
export const registrationTTL = Duration.minutes(15)

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

  const launch = Effect.fn("Lifecycle.launch")(function* (claim: NodeClaim) {
    const launched = yield* cloud.create(claim).pipe(
      Effect.map((value) => ({ ok: true as const, value })),
      Effect.catchTags({
        InsufficientCapacity: (error) => Effect.succeed({ ok: false as const, error }),
        NodeClassNotReady: (error) => Effect.succeed({ ok: false as const, error })
      })
    )
    if (!launched.ok) {
      // No capacity or NodeClass now: give the pods back to the provisioner, which will try other options.
      yield* events.publish({
        involvedObject: reference(claim),
        type: "Warning",
        reason: launched.error._tag === "InsufficientCapacity" ? "InsufficientCapacityError" : "NodeClassNotReady",
        message: `NodeClaim ${claim.metadata.name} event: Failed to launch node, ${launched.error.message}`
      })
      yield* kube
        .delete(Resources.NodeClaims, claim.metadata.name ?? "")
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
      return Result.done
    }
    const created = launched.value
    const labelled = yield* kube.patch(Resources.NodeClaims, claim.metadata.name ?? "", {
      type: "merge",
      patch: { metadata: { labels: created.metadata.labels ?? {} } }
    })
    yield* writeStatus(labelled, (status, now) => ({
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
    return Result.requeue
  })

  const register = Effect.fn("Lifecycle.register")(function* (claim: NodeClaim) {
    const found = yield* nodesOf(claim)
    const nodePool = claim.metadata.labels?.[Labels.NodePool]
    if (found.length === 0) {
      yield* condition(claim, {
        type: ConditionTypes.Registered,
        status: "Unknown",
        reason: ConditionTypes.NodeNotFound,
        message: "Node not registered with cluster"
      })
      const age = (yield* Clock.currentTimeMillis) - Date.parse(claim.metadata.creationTimestamp ?? "")
      const ttl = Duration.toMillis(registrationTTL)
      if (age < ttl) return Result.requeueAfter(Duration.millis(ttl - age))
      // Liveness: the instance launched but its Node never joined.
      const launchedCondition = Conditions.get(claim.status?.conditions, ConditionTypes.Launched)
      if (nodePool !== undefined) {
        yield* RegistrationHealth.markUnhealthy(
          nodePool,
          launchedCondition?.status === "True"
            ? ConditionTypes.RegistrationFailed
            : (launchedCondition?.reason ?? ConditionTypes.RegistrationFailed),
          launchedCondition?.status === "True"
            ? "Failed to register node"
            : (launchedCondition?.message ?? "Failed to register node")
        )
      }
      yield* events.publish({
        involvedObject: reference(claim),
        type: "Normal",
        reason: "Disrupted",
        message: `Disrupting NodeClaim: Liveness - node did not register within ${Duration.format(registrationTTL)}`
      })
      yield* kube
        .delete(Resources.NodeClaims, claim.metadata.name ?? "")
        .pipe(Effect.catchTag("NotFound", () => Effect.void))
      return Result.done
    }
    if (found.length > 1) {
      yield* condition(claim, {
        type: ConditionTypes.Registered,
        status: "False",
        reason: ConditionTypes.MultipleNodesFound,
        message: `found ${found.length} nodes with providerID ${claim.status?.providerID}`
      })
      return Result.done
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
    return registered === claim ? Result.done : Result.requeue
  })

  /** The Node takes the NodeClaim's labels, taints and finalizer; the unregistered taint goes. */
  const syncNode = Effect.fn("Lifecycle.syncNode")(function* (claim: NodeClaim, node: Node) {
    const wanted = [...(claim.spec.taints ?? []), ...(claim.spec.startupTaints ?? [])]
    const kept = (node.spec.taints ?? []).filter((taint) => !Taints.matches(taint, Taints.UnregisteredNoExecute))
    const taints = [...kept, ...wanted.filter((taint) => !kept.some((existing) => Taints.matches(existing, taint)))]
    yield* kube.patch(Resources.Nodes, node.metadata.name ?? "", {
      type: "merge",
      patch: {
        metadata: {
          resourceVersion: node.metadata.resourceVersion,
          labels: { ...claim.metadata.labels, [Labels.NodeRegistered]: "true" },
          finalizers: hasFinalizer(node)
            ? node.metadata.finalizers
            : [...(node.metadata.finalizers ?? []), Labels.TerminationFinalizer],
          ownerReferences: [
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
    const conditions = claim.status?.conditions
    if (!Conditions.isTrue(conditions, ConditionTypes.Launched)) return yield* launch(claim)
    if (!Conditions.isTrue(conditions, ConditionTypes.Registered)) return yield* register(claim)
    if (!Conditions.isTrue(conditions, ConditionTypes.Initialized)) return yield* initialize(claim)
    return Result.done
  })

  // Nodes name no NodeClaim; the providerID joins them.
  const claimNameByProviderID = new Map<string, string>()
  return yield* Controller.make({
    name: "nodeclaim.lifecycle",
    for: nodeClaims,
    concurrency: 10,
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
