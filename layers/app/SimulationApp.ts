/**
 * The embedded cluster a `simulate` scenario runs on: the in-memory API server, the emulated control plane, a cloud
 * provider (KWOK unless told) and every Karpenter controller, all on the caller's (virtual) clock.
 */
import { setFlagsFromString } from "node:v8"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { CloudProvider } from "../../src/cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../src/cloudprovider/InstanceType.ts"
import * as ControlPlane from "../../src/cluster/ControlPlane.ts"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import type { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Controllers from "../../src/operator/Controllers.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as ClusterState from "../../src/state/Cluster.ts"
import * as KwokCloudProvider from "../cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../kube/memory/MemoryKubeClient.ts"

/**
 * A simulated day allocates short-lived objects fast; with V8's default young generation, scavenges took a sixth of
 * the 24 h bench. A 64 MB semi-space (V8 grows to it on demand) makes `simulate` a throughput job; the long-running
 * commands keep Node's defaults.
 */
const throughputHeap = Layer.effectDiscard(Effect.sync(() => setFlagsFromString("--max-semi-space-size=64")))

/**
 * The embedded cluster on a cloud provider: the in-memory API server, the emulated control plane, the provider (with
 * whatever it runs beside it) and every Karpenter controller.
 */
export const withProvider = (
  provider: Layer.Layer<CloudProvider, never, KubeClient | InformerCache.InformerCache | EventRecorder>,
  options?: Controllers.ControllerOptions
): Layer.Layer<KubeClient> => {
  const kube = MemoryKube.layer()
  // One informer cache for the whole process: the control plane and the controllers read the same informers.
  const services = ClusterState.layer.pipe(
    Layer.provideMerge(provider),
    Layer.provideMerge(EventRecorder.layer),
    Layer.provideMerge(InformerCache.layer),
    Layer.provideMerge(kube)
  )
  const running = Layer.mergeAll(ControlPlane.layer, Controllers.layer(options)).pipe(Layer.provideMerge(services))
  return running.pipe(Layer.provideMerge(throughputHeap))
}

/**
 * The simulation environment for a catalogue, on the KWOK provider (which offers reservations only under the
 * ReservedCapacity gate), its controllers run with `options`.
 */
export const environment = (
  instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
  options?: Controllers.ControllerOptions
): Layer.Layer<KubeClient> =>
  withProvider(
    KwokCloudProvider.layer({ instanceTypes, reservedCapacity: options?.reservedCapacity === true }),
    options
  )
