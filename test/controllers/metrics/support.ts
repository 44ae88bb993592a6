/** Helpers of the metrics controller tests: the operator on the embedded cluster, and reading one scraped series. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KwokCloudProvider from "../../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as ControlPlane from "../../../src/cluster/ControlPlane.ts"
import { EventRecorder } from "../../../src/kube/EventRecorder.ts"
import * as Controllers from "../../../src/operator/Controllers.ts"
import * as Operations from "../../../src/operator/Operations.ts"
import * as InformerCache from "../../../src/runtime/InformerCache.ts"
import * as ClusterStateLayer from "../../../src/state/Cluster.ts"

/** The embedded cluster with the KWOK provider and every controller of a running operator. */
export const operator = Layer.mergeAll(ControlPlane.layer, Controllers.operatorLayer()).pipe(
  Layer.provideMerge(Layer.mergeAll(EventRecorder.layer, ClusterStateLayer.layer)),
  Layer.provideMerge(InformerCache.layer),
  Layer.provideMerge(KwokCloudProvider.layer().pipe(Layer.provideMerge(MemoryKube.layer())))
)

/** The value of one series (its name and labels, as scraped) in `/metrics`; undefined when absent. */
export const sample = (series: string): Effect.Effect<number | undefined> =>
  Effect.map(Operations.scrape, (text) => {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
    return line === undefined ? undefined : Number(line.slice(series.length + 1))
  })
