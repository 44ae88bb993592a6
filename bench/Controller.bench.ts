/**
 * The controller benchmark (issue #13): what a `controller` process costs against a large cluster. This process plays
 * `dev --no-controllers` — the in-memory API server, its emulated control plane, served over HTTP — preloaded with
 * `nodes` KWOK-managed Nodes and NodeClaims (launched, registered, initialized, as Karpenter leaves them), `podsPerNode`
 * bound pods filling each, and `pending` pods of the same size, which fit on none. A forked
 * ControllerProcess runs the `controller` Layer on the live client against it. Measured: the time to sync, the
 * controller's RSS and heap (after GC) once synced, once it has provisioned for the pending pods and after its next
 * full disruption pass; the LIST and WATCH requests it made, by resource; its API requests per minute once the
 * cluster is quiet again.
 */
import { type ChildProcess, fork } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ControllerApp from "../layers/app/ControllerApp.ts"
import * as KwokCloudProvider from "../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../src/api/Conditions.ts"
import * as KWOKNodeClass from "../src/api/KWOKNodeClass.ts"
import * as Labels from "../src/api/Labels.ts"
import type { NodeClaim } from "../src/api/NodeClaim.ts"
import * as NodePoolApi from "../src/api/NodePool.ts"
import * as Catalog from "../src/cloudprovider/Catalog.ts"
import * as ControlPlane from "../src/cluster/ControlPlane.ts"
import * as HttpApi from "../src/cluster/http/HttpApi.ts"
import * as Hash from "../src/controllers/nodepool/hash/Hash.ts"
import { KubeClient, type Selection } from "../src/kube/KubeClient.ts"
import * as Resource from "../src/kube/Resource.ts"
import * as Resources from "../src/kube/Resources.ts"
import * as InformerCache from "../src/runtime/InformerCache.ts"
import * as ResourceMath from "../src/scheduling/ResourceLists.ts"
import { condition } from "./Consolidation.bench.ts"
import type * as ControllerProcess from "./ControllerProcess.ts"
import { machine } from "./Harness.ts"

/** The `--json` line. */
export interface Run {
  readonly nodes: number
  readonly pods: number
  readonly syncSeconds: number
  /** After the disruption pass, as the target reads. */
  readonly rssMB: number
  readonly heapMB: number
  readonly afterSync: Memory
  readonly afterProvisioning: Memory
  readonly afterDisruption: Memory
  /** The controller's peak RSS (VmHWM). */
  readonly peakRssMB: number
  readonly provisioningSeconds: number
  readonly disruptionSeconds: number
  /** WATCH requests made, and the distinct resource + selection pairs they watched. */
  readonly watches: number
  readonly watchedResources: number
  readonly lists: number
  /** LIST (first pages) and WATCH requests by resource and selection. */
  readonly requests: Readonly<Record<string, { readonly lists: number; readonly watches: number }>>
  /** Every API request over the steady-state window, per minute. */
  readonly requestsPerMinute: number
}

/** The controller's memory at one point, after a forced GC (MB). */
export type Memory = Omit<Extract<ControllerProcess.Message, { type: "memory" }>, "type">

const memoryOf = ({ type: _, ...memory }: Extract<ControllerProcess.Message, { type: "memory" }>): Memory => memory

/**
 * The NodePool's only instance type (8 cpu, 16Gi): the pods fill every node, so no pod can move and the cluster is
 * steady once provisioned — a disruption pass evaluates every candidate and finds nothing to do.
 */
const nodeType = "c-8x-amd64-linux"
const zones = ["test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"]
const nodePoolManifest = {
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name: "default" },
  spec: {
    disruption: { consolidationPolicy: "WhenEmptyOrUnderutilized", consolidateAfter: "0s" },
    template: {
      spec: {
        nodeClassRef: { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind, name: "default" },
        expireAfter: "Never",
        requirements: [
          { key: Labels.InstanceType, operator: "In", values: [nodeType] },
          { key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeOnDemand] }
        ]
      }
    }
  }
}

/** Creates the NodeClass, the NodePool and, per node, its NodeClaim, Node and bound pods, then the pending pods. */
const populate = (nodes: number, podsPerNode: number, pending: number) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    yield* kube.create(Resources.KWOKNodeClasses, {
      apiVersion: KWOKNodeClass.apiVersion,
      kind: KWOKNodeClass.kind,
      metadata: { name: "default" },
      spec: {}
    } as never)
    const nodePool = Schema.decodeUnknownSync(NodePoolApi.NodePool)(nodePoolManifest)
    const hashAnnotations = {
      [Labels.NodePoolHashAnnotation]: Hash.hashOf(nodePool),
      [Labels.NodePoolHashVersionAnnotation]: Labels.NodePoolHashVersion
    }
    yield* kube.create(Resources.NodePools, {
      ...nodePoolManifest,
      metadata: { ...nodePoolManifest.metadata, annotations: hashAnnotations }
    } as never)
    const instanceType = Catalog.kwok().find((candidate) => candidate.name === nodeType)
    if (instanceType === undefined) return yield* Effect.die(`no ${nodeType} in the KWOK catalogue`)
    const requests = {
      cpu: Math.floor((instanceType.allocatable.cpu ?? 0) / podsPerNode),
      memory: Math.floor((instanceType.allocatable.memory ?? 0) / podsPerNode)
    }
    for (let index = 0; index < nodes; index++) {
      const name = `default-${String(index).padStart(5, "0")}`
      const offering = instanceType.offerings.find(
        (candidate) =>
          candidate.capacityType === Labels.CapacityTypeOnDemand && candidate.zone === zones[index % zones.length]
      )
      if (offering === undefined) return yield* Effect.die(`no on-demand offering of ${nodeType}`)
      const claim: NodeClaim = {
        apiVersion: "karpenter.sh/v1",
        kind: "NodeClaim",
        metadata: {
          name,
          labels: { [Labels.NodePool]: "default", [KWOKNodeClass.NodeClassLabel]: "default" },
          annotations: hashAnnotations,
          finalizers: [Labels.TerminationFinalizer]
        },
        spec: {
          nodeClassRef: nodePool.spec.template.spec.nodeClassRef,
          requirements: [
            ...nodePool.spec.template.spec.requirements,
            { key: Labels.NodePool, operator: "In", values: ["default"] }
          ],
          expireAfter: "Never"
        },
        status: {
          providerID: KwokCloudProvider.providerIDFor(name),
          nodeName: name,
          imageID: KwokCloudProvider.ImageID,
          capacity: ResourceMath.toResourceList(instanceType.capacity),
          allocatable: ResourceMath.toResourceList(instanceType.allocatable)
        }
      }
      const labels = {
        ...KwokCloudProvider.launchedLabels(claim, { instanceType, offering }),
        [Labels.NodeRegistered]: "true",
        [Labels.NodeInitialized]: "true"
      }
      const { status, ...created } = claim
      yield* kube.create(Resources.NodeClaims, { ...created, metadata: { ...claim.metadata, labels } } as never)
      yield* kube.patch(
        Resources.NodeClaims,
        name,
        {
          type: "merge",
          patch: {
            status: {
              ...status,
              conditions: [
                ConditionTypes.Launched,
                ConditionTypes.Registered,
                ConditionTypes.Initialized,
                ConditionTypes.Ready
              ].map(condition)
            }
          }
        },
        { subresource: "status" }
      )
      const node = KwokCloudProvider.toNode({ ...claim, metadata: { ...claim.metadata, labels } }, offering.price)
      yield* kube.create(Resources.Nodes, {
        ...node,
        metadata: { ...node.metadata, finalizers: [Labels.TerminationFinalizer] },
        spec: { ...node.spec, taints: [] },
        status: { ...node.status, conditions: [{ type: "Ready", status: "True" }] }
      } as never)
      for (let p = 0; p < podsPerNode; p++) {
        yield* kube.create(Resources.Pods, pod(`${name}-${p}`, p % 10, requests, name) as never, {
          namespace: "default"
        })
      }
    }
    for (let p = 0; p < pending; p++) {
      yield* kube.create(Resources.Pods, pod(`pending-${p}`, 10, requests) as never, {
        namespace: "default"
      })
    }
  })

/** A pod of `app-<app>`, owned by its ReplicaSet (so that disruption may move it), bound to `nodeName` if given. */
const pod = (name: string, app: number, requests: ResourceMath.Resources, nodeName?: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name,
    namespace: "default",
    labels: { app: `app-${app}` },
    ownerReferences: [
      { apiVersion: "apps/v1", kind: "ReplicaSet", name: `app-${app}`, uid: `rs-${app}`, controller: true }
    ]
  },
  spec: {
    ...(nodeName === undefined ? {} : { nodeName }),
    containers: [{ name: "app", image: "app", resources: { requests: ResourceMath.toResourceList(requests) } }]
  }
})

/** The façade's backend, counting each request the controller makes: LISTs (first pages) and WATCHes by target. */
const counting = (kube: KubeClient["Service"]) => {
  const requests = new Map<string, { lists: number; watches: number }>()
  let total = 0
  let lastWatchAt = 0
  const entry = (resource: Resource.Resource<Resource.KubeObject>, selection?: Selection) => {
    const key = [
      Resource.qualifiedName(resource),
      ...[selection?.namespace, selection?.labelSelector, selection?.fieldSelector].filter((part) => part !== undefined)
    ].join(" ")
    let found = requests.get(key)
    if (found === undefined) {
      found = { lists: 0, watches: 0 }
      requests.set(key, found)
    }
    return found
  }
  const counted =
    <Args extends Array<unknown>, A>(f: (...args: Args) => A) =>
    (...args: Args): A => {
      total++
      return f(...args)
    }
  const client = KubeClient.of({
    ...kube,
    get: counted(kube.get),
    create: counted(kube.create),
    replace: counted(kube.replace),
    patch: counted(kube.patch),
    delete: counted(kube.delete),
    evict: counted(kube.evict),
    bind: counted(kube.bind),
    list: (resource, options) => {
      total++
      if (options?.continue === undefined) entry(resource, options).lists++
      return kube.list(resource, options)
    },
    watch: (resource, options) =>
      Stream.suspend(() => {
        total++
        lastWatchAt = performance.now()
        entry(resource, options).watches++
        return kube.watch(resource, options)
      })
  })
  return { client, requests, total: () => total, lastWatchAt: () => lastWatchAt }
}

/** Polls `check` every 500 ms until it holds; dies after `timeoutSeconds`. */
const until = (what: string, check: Effect.Effect<boolean>, timeoutSeconds = 900) =>
  Effect.gen(function* () {
    const deadline = performance.now() + timeoutSeconds * 1000
    while (!(yield* check)) {
      if (performance.now() > deadline) return yield* Effect.die(`timed out waiting for ${what}`)
      yield* Effect.sleep("500 millis")
    }
  })

/** The next message of `type` from the child. */
const receive = <T extends ControllerProcess.Message["type"]>(child: ChildProcess, type: T) =>
  Effect.callback<Extract<ControllerProcess.Message, { type: T }>>((resume) => {
    const listener = (message: ControllerProcess.Message) => {
      if (message.type !== type) return
      child.off("message", listener)
      resume(Effect.succeed(message as Extract<ControllerProcess.Message, { type: T }>))
    }
    child.on("message", listener)
    return Effect.sync(() => child.off("message", listener))
  })

const ask = <T extends ControllerProcess.Request["type"]>(child: ChildProcess, type: T) =>
  Effect.andThen(
    Effect.sync(() => child.send({ type })),
    receive(child, type)
  )

const peakRss = (pid: number | undefined): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kilobytes = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? "0")
  return Math.round(kilobytes / 1024)
}

/** One run: preload, fork the controller, follow it through sync, provisioning and a disruption pass. */
export const runOnce = (options: {
  readonly nodes: number
  readonly podsPerNode: number
  readonly pending: number
  readonly steadySeconds: number
}): Promise<Run> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const memory = yield* Layer.build(MemoryKube.layer())
      const backend = Context.get(memory, KubeClient)
      yield* Layer.build(
        ControlPlane.layer.pipe(Layer.provide(InformerCache.layer), Layer.provide(Layer.succeedContext(memory)))
      )
      const requests = counting(backend)
      const served = yield* HttpApi.serve().pipe(Effect.provideService(KubeClient, requests.client))
      yield* populate(options.nodes, options.podsPerNode, options.pending).pipe(
        Effect.provideService(KubeClient, backend)
      )
      const pods = options.nodes * options.podsPerNode + options.pending
      const allPods = Effect.map(backend.list(Resources.Pods, { namespace: "default" }), (page) => page.items)
      const quiet = Effect.all([allPods, backend.list(Resources.NodeClaims)]).pipe(
        Effect.map(
          ([podItems, claims]) =>
            podItems.every((item) => item.status?.phase === "Running") &&
            claims.items.every(
              (claim) =>
                claim.metadata.deletionTimestamp === undefined &&
                (claim.status?.conditions ?? []).some(
                  (c) => c.type === ConditionTypes.Initialized && c.status === "True"
                )
            )
        ),
        Effect.orDie
      )
      // The control plane has started every bound pod and marked the pending ones unschedulable.
      yield* until(
        "the preloaded pods to settle",
        Effect.map(allPods, (items) =>
          items.every((item) =>
            item.spec.nodeName === undefined
              ? (item.status?.conditions ?? []).some((c) => c.type === "PodScheduled" && c.status === "False")
              : item.status?.phase === "Running"
          )
        ).pipe(Effect.orDie)
      )

      const forked = performance.now()
      const child = fork(join(import.meta.dirname, "ControllerProcess.js"), [served.url], {
        execArgv: ["--expose-gc"],
        // The environment the container image gives `controller`.
        env: { ...process.env, ...ControllerApp.processEnvironment },
        stdio: ["ignore", "ignore", "inherit", "ipc"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill()))
      // Synced: the cluster state has listed, and so has every other informer — each watches once it has, so the
      // informers are all done when no new WATCH has come for a few seconds.
      yield* receive(child, "synced")
      yield* until(
        "every informer to watch",
        Effect.sync(() => performance.now() - requests.lastWatchAt() > 3000)
      )
      const syncSeconds = Math.round((requests.lastWatchAt() - forked) / 10) / 100
      const afterSync = yield* ask(child, "memory")

      const provisioningStart = performance.now()
      yield* until(
        "the pending pods to run on new nodes",
        Effect.map(allPods, (items) => items.every((item) => item.status?.phase === "Running")).pipe(Effect.orDie)
      )
      const provisioningSeconds = (performance.now() - provisioningStart) / 1000
      const afterProvisioning = yield* ask(child, "memory")

      // A pass may be under way already, on the cluster before provisioning: the one after it starts afterwards.
      const disruptionStart = performance.now()
      const passes = (yield* ask(child, "disruptionPasses")).passes
      yield* until(
        "a full disruption pass",
        Effect.map(ask(child, "disruptionPasses"), (answer) => answer.passes > passes + 1)
      )
      const disruptionSeconds = (performance.now() - disruptionStart) / 1000
      const afterDisruption = yield* ask(child, "memory")

      // Steady state: whatever the pass decided has been carried out, and nothing changes any more.
      yield* until("the cluster to be quiet", quiet)
      const before = requests.total()
      yield* Effect.sleep(`${options.steadySeconds} seconds`)
      const requestsPerMinute = ((requests.total() - before) * 60) / options.steadySeconds

      const byTarget = Object.fromEntries([...requests.requests].sort(([a], [b]) => (a < b ? -1 : 1)))
      const counts = [...requests.requests.values()]
      const round = (value: number) => Math.round(value * 100) / 100
      return {
        nodes: options.nodes,
        pods,
        syncSeconds,
        rssMB: afterDisruption.rssMB,
        heapMB: afterDisruption.heapMB,
        afterSync: memoryOf(afterSync),
        afterProvisioning: memoryOf(afterProvisioning),
        afterDisruption: memoryOf(afterDisruption),
        peakRssMB: peakRss(child.pid),
        provisioningSeconds: round(provisioningSeconds),
        disruptionSeconds: round(disruptionSeconds),
        watches: counts.reduce((sum, count) => sum + count.watches, 0),
        watchedResources: counts.filter((count) => count.watches > 0).length,
        lists: counts.reduce((sum, count) => sum + count.lists, 0),
        requests: byTarget,
        requestsPerMinute: round(requestsPerMinute)
      } satisfies Run
    }).pipe(Effect.scoped)
  )

/**
 * `bench:controller` with its flags: --nodes N (default 1000), --pods-per-node N (30), --pending N (500),
 * --steady-seconds N (60), --json (one JSON line).
 */
export const main = async (args: ReadonlyArray<string>): Promise<void> => {
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(`--${name}`)
    return at < 0 ? fallback : Number(args[at + 1])
  }
  const run = await runOnce({
    nodes: flag("nodes", 1000),
    podsPerNode: flag("pods-per-node", 30),
    pending: flag("pending", 500),
    steadySeconds: flag("steady-seconds", 60)
  })
  if (args.includes("--json")) {
    console.log(JSON.stringify(run))
    return
  }
  console.log(`Machine: ${machine()}\n`)
  console.log(
    "| nodes | pods | sync s | RSS MB (synced / provisioned / after disruption / peak) | heap MB (same) | WATCH | watched | LIST | requests/min |"
  )
  console.log("| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |")
  console.log(
    `| ${run.nodes} | ${run.pods} | ${run.syncSeconds} | ${run.afterSync.rssMB} / ${run.afterProvisioning.rssMB} / ${run.rssMB} / ${run.peakRssMB} | ${run.afterSync.heapMB} / ${run.afterProvisioning.heapMB} / ${run.heapMB} | ${run.watches} | ${run.watchedResources} | ${run.lists} | ${run.requestsPerMinute} |`
  )
}
