/**
 * Every Karpenter controller, as one Layer over the four services: what the operator runs (in a real cluster, on the
 * embedded one, or in a simulation).
 */
import { Layer } from "effect"
import * as Disruption from "../controllers/disruption/Disruption.ts"
import * as Termination from "../controllers/node/termination/Termination.ts"
import * as Consistency from "../controllers/nodeclaim/consistency/Consistency.ts"
import * as DisruptionConditions from "../controllers/nodeclaim/disruption/Disruption.ts"
import * as Expiration from "../controllers/nodeclaim/expiration/Expiration.ts"
import * as GarbageCollection from "../controllers/nodeclaim/garbagecollection/GarbageCollection.ts"
import * as Lifecycle from "../controllers/nodeclaim/lifecycle/Lifecycle.ts"
import * as PodEvents from "../controllers/nodeclaim/podevents/PodEvents.ts"
import * as NodePoolControllers from "../controllers/nodepool/NodePoolControllers.ts"
import * as Provisioner from "../controllers/provisioning/Provisioner.ts"

/** The controllers; they run while the Layer's scope is open. */
export const layer = (options?: Provisioner.Options & Disruption.Options) =>
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
    Layer.effectDiscard(Provisioner.run(options))
  )
