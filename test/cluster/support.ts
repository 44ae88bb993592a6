/** Helpers of the embedded-cluster tests: manifests, and letting the control plane settle. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import type * as Meta from "../../src/api/Meta.ts"
import type * as Node from "../../src/api/Node.ts"
import type * as Pod from "../../src/api/Pod.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"

export { settle } from "../support/Settle.ts"

/** Runs a test body against a fresh in-memory API server, with an informer cache on it. */
export const withKube = <A, E, R>(
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, KubeClient | MemoryKube.MemoryApiServer | InformerCache.InformerCache>> =>
  Effect.provide(body, InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer())))

/** A node manifest's knobs. */
export interface NodeOptions {
  readonly labels?: Record<string, string>
  readonly taints?: ReadonlyArray<Meta.Taint>
  readonly allocatable?: Record<string, string>
  readonly ready?: boolean
  readonly unschedulable?: boolean
}

/** A Node manifest (wire form): 4 CPU, 16Gi, 110 pods unless told otherwise; `ready: false` writes Ready=False. */
export const node = (name: string, options: NodeOptions = {}) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: { "kubernetes.io/hostname": name, ...options.labels } },
  spec: {
    ...(options.taints === undefined ? {} : { taints: options.taints }),
    ...(options.unschedulable === undefined ? {} : { unschedulable: options.unschedulable })
  },
  status: {
    allocatable: options.allocatable ?? { cpu: "4", memory: "16Gi", pods: "110" },
    capacity: options.allocatable ?? { cpu: "4", memory: "16Gi", pods: "110" },
    ...(options.ready === undefined
      ? {}
      : { conditions: [{ type: "Ready", status: options.ready ? "True" : "False" }] })
  }
})

/** A pod spec with one container requesting `cpu` (default 1) and whatever `extra` adds. */
export const podSpec = (cpu = "1", extra: Partial<Pod.Spec> = {}): Pod.Spec => ({
  containers: [{ name: "app", image: "app", resources: { requests: { cpu, memory: "1Gi" } } }],
  ...extra
})

/** A Pod manifest in `default`. */
export const pod = (name: string, options: { labels?: Record<string, string>; spec?: Pod.Spec } = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels: options.labels ?? { app: name } },
  spec: options.spec ?? podSpec()
})

/** A decoded pod, for the pure scheduler tests (bound to `nodeName` when given). */
export const boundPod = (
  name: string,
  options: { labels?: Record<string, string>; spec?: Pod.Spec; nodeName?: string; namespace?: string } = {}
): Pod.Pod => ({
  metadata: {
    name,
    namespace: options.namespace ?? "default",
    labels: options.labels ?? { app: name },
    creationTimestamp: "1970-01-01T00:00:00Z"
  },
  spec: { ...(options.spec ?? podSpec()), ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }) },
  status: { phase: options.nodeName === undefined ? "Pending" : "Running" }
})

/** A decoded Ready node, for the pure scheduler tests. */
export const readyNode = (name: string, options: NodeOptions = {}): Node.Node => {
  const manifest = node(name, { ready: true, ...options })
  return manifest as unknown as Node.Node
}

/** A Deployment manifest in `default`. */
export const deployment = (name: string, replicas: number, spec: Pod.Spec = podSpec()) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace: "default" },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec }
  }
})

/** Every pod in `default`, sorted by name. */
export const listPods = Effect.gen(function* () {
  const kube = yield* KubeClient
  const { items } = yield* kube.list(Resources.Pods, { namespace: "default" })
  return [...items].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1))
})

/** The condition of `type` on a pod. */
export const podCondition = (pod: Pod.Pod, type: string) =>
  pod.status?.conditions?.find((condition) => condition.type === type)
