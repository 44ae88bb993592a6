/**
 * The NodePool controllers (upstream `pkg/controllers/nodepool`): validation, readiness, hash, counter and
 * registration health, sharing one NodePool informer and one informer per supported NodeClass kind.
 */
import { Effect, Layer } from "effect"
import { CloudProvider } from "../../cloudprovider/CloudProvider.ts"
import type { EventRecorder } from "../../kube/EventRecorder.ts"
import type { KubeClient } from "../../kube/KubeClient.ts"
import * as Resources from "../../kube/Resources.ts"
import * as Informer from "../../runtime/Informer.ts"
import type { ClusterState } from "../../state/ClusterState.ts"
import * as Counter from "./counter/Counter.ts"
import * as Hash from "./hash/Hash.ts"
import * as NodeClasses from "./nodeclass/NodeClasses.ts"
import * as Readiness from "./readiness/Readiness.ts"
import * as RegistrationHealth from "./registrationhealth/RegistrationHealth.ts"
import * as Validation from "./validation/Validation.ts"

/** Starts every NodePool controller in the current Scope; returns them (the Manager reads their informers). */
export const make = Effect.fn("NodePoolControllers.make")(function* () {
  const cloudProvider = yield* CloudProvider
  const sources: NodeClasses.Sources = {
    nodePools: yield* Informer.make(Resources.NodePools),
    nodeClasses: yield* NodeClasses.makeInformers(cloudProvider)
  }
  return [
    yield* Validation.make(sources),
    yield* Readiness.make(sources),
    yield* Hash.make(sources),
    yield* Counter.make(sources),
    yield* RegistrationHealth.make(sources)
  ] as const
})

/** The NodePool controllers as a Layer: they run until the Layer's scope closes. */
export const layer: Layer.Layer<never, never, KubeClient | CloudProvider | ClusterState | EventRecorder> =
  Layer.effectDiscard(make())
