/**
 * Every Karpenter controller, as one Layer over the four services: what the operator runs (in a real cluster, on the
 * embedded one, or in a simulation).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CapacityBufferController from "../controllers/capacitybuffer/CapacityBufferController.ts"
import * as Disruption from "../controllers/disruption/Disruption.ts"
import * as PodMetrics from "../controllers/metrics/PodMetrics.ts"
import * as StateMetrics from "../controllers/metrics/StateMetrics.ts"
import * as Health from "../controllers/node/health/Health.ts"
import * as Termination from "../controllers/node/termination/Termination.ts"
import * as Consistency from "../controllers/nodeclaim/consistency/Consistency.ts"
import * as DisruptionConditions from "../controllers/nodeclaim/disruption/DisruptionConditions.ts"
import * as Expiration from "../controllers/nodeclaim/expiration/Expiration.ts"
import * as GarbageCollection from "../controllers/nodeclaim/garbagecollection/GarbageCollection.ts"
import * as Lifecycle from "../controllers/nodeclaim/lifecycle/Lifecycle.ts"
import * as PodEvents from "../controllers/nodeclaim/podevents/PodEvents.ts"
import * as NodeOverlayController from "../controllers/nodeoverlay/NodeOverlayController.ts"
import * as NodePoolControllers from "../controllers/nodepool/NodePoolControllers.ts"
import * as Provisioner from "../controllers/provisioning/Provisioner.ts"
import * as StaticCapacity from "../controllers/static/StaticCapacity.ts"
import * as Manager from "../runtime/Manager.ts"
import * as Operations from "./Operations.ts"

/** What the controllers take from the operator's options. */
export type ControllerOptions = Provisioner.Options &
  Disruption.Options &
  StaticCapacity.Options &
  Health.Options &
  NodeOverlayController.Options &
  CapacityBufferController.Options

/**
 * The controllers (under the NodeOverlay gate, on overlaid instance types; the capacitybuffer controller under the
 * CapacityBuffer gate); they run while the Layer's scope is open.
 */
export const layer = (options?: ControllerOptions) =>
  Layer.mergeAll(
    NodePoolControllers.layer,
    Layer.effectDiscard(Lifecycle.make),
    Layer.effectDiscard(GarbageCollection.make),
    Layer.effectDiscard(Consistency.make),
    Layer.effectDiscard(DisruptionConditions.make),
    Layer.effectDiscard(PodEvents.make),
    Layer.effectDiscard(Expiration.make),
    Layer.effectDiscard(Disruption.make(options)),
    Layer.effectDiscard(Termination.make),
    Layer.effectDiscard(Health.run(options)),
    Layer.effectDiscard(Provisioner.run(options)),
    Layer.effectDiscard(StaticCapacity.make(options)),
    // The buffer controller's informers only under the gate: without it the CRD need not be installed.
    options?.capacityBuffer === true ? Layer.effectDiscard(CapacityBufferController.make()) : Layer.empty
  ).pipe((controllers) => NodeOverlayController.gated(options, controllers))

/**
 * The controllers of a running operator (`controller`, `dev`): every controller plus the metrics controllers, which
 * simulations leave out (their virtual hours would recompute gauges nobody scrapes).
 */
export const operatorLayer = (options?: ControllerOptions) =>
  Layer.mergeAll(layer(options), Layer.effectDiscard(StateMetrics.make()), Layer.effectDiscard(PodMetrics.make))

/**
 * The operator's Manager: ready once the cluster state's caches have synced, running {@link operatorLayer} and the
 * cloud provider's own controllers (`providerControllers`, e.g. the AWS NodeClass status and interruption controllers;
 * none for KWOK), built afresh each time the {@link Manager.LeaderGate} says this replica leads.
 */
export const manager = <R = never>(
  options?: ControllerOptions,
  providerControllers: Layer.Layer<never, never, R> = Layer.empty
) =>
  Layer.effect(
    Manager.Manager,
    Effect.gen(function* () {
      const readiness = yield* Operations.clusterStateReadiness
      return yield* Manager.make({
        informers: [readiness],
        runnables: [Layer.build(Layer.merge(operatorLayer(options), providerControllers))]
      })
    })
  )
