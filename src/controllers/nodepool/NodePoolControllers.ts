/**
 * The NodePool controllers (upstream `pkg/controllers/nodepool`): validation, readiness, hash, counter and
 * registration health, sharing (through the InformerCache) one NodePool informer and one per NodeClass kind.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { CloudProvider } from "../../cloudprovider/CloudProvider.ts"
import type { EventRecorder } from "../../kube/EventRecorder.ts"
import type { KubeClient } from "../../kube/KubeClient.ts"
import type { InformerCache } from "../../runtime/InformerCache.ts"
import type { ClusterState } from "../../state/ClusterState.ts"
import * as Counter from "./counter/Counter.ts"
import * as Hash from "./hash/Hash.ts"
import * as Readiness from "./readiness/Readiness.ts"
import * as RegistrationHealth from "./registrationhealth/RegistrationHealth.ts"
import * as Validation from "./validation/Validation.ts"

/** Starts every NodePool controller in the current Scope; returns them (the Manager reads their informers). */
export const make = Effect.fn("NodePoolControllers.make")(function* () {
  return [
    yield* Validation.make(),
    yield* Readiness.make(),
    yield* Hash.make(),
    yield* Counter.make(),
    yield* RegistrationHealth.make()
  ] as const
})

/** The NodePool controllers as a Layer: they run until the Layer's scope closes. */
export const layer: Layer.Layer<
  never,
  never,
  KubeClient | InformerCache | CloudProvider | ClusterState | EventRecorder
> = Layer.effectDiscard(make())
