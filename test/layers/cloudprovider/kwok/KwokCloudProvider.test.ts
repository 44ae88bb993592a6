import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Kwok from "../../../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as KWOKNodeClass from "../../../../src/api/KWOKNodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import type * as Node from "../../../../src/api/Node.ts"
import type { NodeClaim } from "../../../../src/api/NodeClaim.ts"
import type { NodePool } from "../../../../src/api/NodePool.ts"
import * as Catalog from "../../../../src/cloudprovider/Catalog.ts"
import * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../../../src/cloudprovider/InstanceType.ts"
import * as KubeClient from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import { settle } from "../../../controllers/support.ts"

type Services = CloudProvider.CloudProvider | KubeClient.KubeClient | MemoryKube.MemoryApiServer

const run = <A, E>(effect: Effect.Effect<A, E, Services>, options?: Kwok.Options) =>
  Effect.provide(effect, Kwok.layer(options).pipe(Layer.provideMerge(MemoryKube.layer())))

/** A provider of another process over the same API server; it stops when the returned Scope closes. */
const startProvider = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(Kwok.layer(), scope)
  yield* settle
  return { scope, cloud: Context.get(context, CloudProvider.CloudProvider) }
})

/** Runs processes of their own (see {@link startProvider}) over one in-memory API server. */
const runProcesses = <A, E>(effect: Effect.Effect<A, E, KubeClient.KubeClient | MemoryKube.MemoryApiServer>) =>
  Effect.provide(effect, MemoryKube.layer())

const nodeClaim = (options: {
  readonly name?: string
  readonly nodeClass?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly requirements?: ReadonlyArray<{ key: string; operator: string; values?: ReadonlyArray<string> }>
  readonly requests?: Readonly<Record<string, string>>
  readonly taints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
  readonly startupTaints?: ReadonlyArray<{ key: string; value?: string; effect: string }>
}): NodeClaim =>
  ({
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: {
      name: options.name ?? "default-abcde",
      labels: { [Labels.NodePool]: "default", ...options.labels }
    },
    spec: {
      requirements: options.requirements ?? [],
      nodeClassRef: { group: KWOKNodeClass.group, kind: KWOKNodeClass.kind, name: options.nodeClass ?? "default" },
      expireAfter: "720h",
      ...(options.requests === undefined ? {} : { resources: { requests: options.requests } }),
      ...(options.taints === undefined ? {} : { taints: options.taints }),
      ...(options.startupTaints === undefined ? {} : { startupTaints: options.startupTaints })
    }
  }) as NodeClaim

const createNodeClass = (
  name: string,
  spec: { readonly nodeRegistrationDelay?: string; readonly failRegistration?: boolean } = {},
  finalizers?: ReadonlyArray<string>
) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    return yield* kube.create(Resources.KWOKNodeClasses, {
      apiVersion: KWOKNodeClass.apiVersion,
      kind: KWOKNodeClass.kind,
      metadata: { name, ...(finalizers === undefined ? {} : { finalizers }) },
      spec
    })
  })

const getNode = (name: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    return yield* kube.get(Resources.Nodes, name).pipe(
      Effect.map((node): Node.Node | undefined => node),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined))
    )
  })

const entry = (
  name: string,
  offerings: ReadonlyArray<{ zone: string; capacityType: string; price: number; available?: boolean }>,
  extra?: { readonly cpu?: string; readonly labels?: Record<string, string> }
): InstanceType.InstanceType =>
  Catalog.toInstanceType({
    name,
    architecture: "amd64",
    operatingSystems: ["linux"],
    cpu: extra?.cpu ?? "2",
    memory: "4Gi",
    pods: 32,
    ...(extra?.labels === undefined ? {} : { labels: extra.labels }),
    offerings: offerings.map((o) => ({ ...o, available: o.available ?? true }))
  })

const onlyType = (values: ReadonlyArray<string>) => [{ key: Labels.InstanceType, operator: "In", values }]

const kwokPrice = (typeName: string, capacityType: string, zone: string): number =>
  Catalog.kwok()
    .find((instanceType) => instanceType.name === typeName)!
    .offerings.find((o) => o.capacityType === capacityType && o.zone === zone)!.price

describe("KwokCloudProvider", () => {
  it.effect("describes itself as upstream's kwok provider", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        assert.strictEqual(cloud.name, "kwok")
        assert.deepStrictEqual(cloud.supportedNodeClasses, [{ group: "karpenter.kwok.sh", kind: "KWOKNodeClass" }])
        assert.deepStrictEqual(cloud.repairPolicies, [])
        assert.strictEqual(yield* cloud.isDrifted(nodeClaim({})), undefined)
        const types = yield* cloud.getInstanceTypes({ metadata: { name: "default" } } as NodePool)
        assert.strictEqual(types.length, 144)
        for (const key of Catalog.kwokWellKnownLabels) assert.isTrue(cloud.wellKnownLabels.has(key))
        assert.isTrue(cloud.wellKnownLabels.has(KWOKNodeClass.InstanceFamilyLabel))
      })
    )
  )

  it.effect("adds the keys a custom catalogue's types define to the well-known labels", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        assert.isTrue(cloud.wellKnownLabels.has("example.com/gpu"))
        assert.isTrue(cloud.wellKnownLabels.has(Labels.Region))
        const types = yield* cloud.getInstanceTypes({ metadata: { name: "default" } } as NodePool)
        assert.deepStrictEqual(
          types.map((t) => t.name),
          ["gpu"]
        )
      }),
      {
        instanceTypes: [
          entry("gpu", [{ zone: "z", capacityType: "on-demand", price: 1 }], { labels: { "example.com/gpu": "a" } })
        ]
      }
    )
  )

  it.effect("launches the cheapest offering and returns the NodeClaim as launched", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        const input = nodeClaim({
          name: "default-x1",
          labels: { team: "a" },
          requirements: [
            ...onlyType(["s-2x-amd64-linux", "c-2x-amd64-linux", "c-4x-amd64-linux"]),
            { key: "workload", operator: "In", values: ["web"] },
            { key: Labels.OS, operator: "In", values: ["linux", "windows"] }
          ]
        })
        const launched = yield* cloud.create(input)
        const labels = launched.metadata.labels ?? {}
        assert.strictEqual(labels[Labels.InstanceType], "c-2x-amd64-linux")
        assert.strictEqual(labels[Labels.CapacityType], "spot")
        assert.strictEqual(labels[Labels.Zone], "test-zone-a")
        assert.strictEqual(labels[Labels.Arch], "amd64")
        assert.strictEqual(labels[Labels.OS], "linux")
        assert.strictEqual(labels[Labels.NodePool], "default")
        assert.strictEqual(labels[KWOKNodeClass.InstanceFamilyLabel], "c")
        assert.strictEqual(labels[KWOKNodeClass.InstanceSizeLabel], "2")
        assert.strictEqual(labels[KWOKNodeClass.InstanceCPULabel], "2")
        assert.strictEqual(labels[KWOKNodeClass.NodeClassLabel], "default")
        assert.strictEqual(labels.team, "a")
        assert.strictEqual(labels.workload, "web")
        assert.strictEqual(labels[Labels.Hostname], undefined)
        assert.strictEqual(launched.status?.providerID, "kwok://default-x1")
        assert.strictEqual(launched.status?.imageID, "kwok")
        assert.strictEqual(launched.status?.capacity?.cpu, "2")
        assert.strictEqual(launched.status?.capacity?.memory, "4Gi")
        assert.strictEqual(launched.status?.capacity?.pods, "32")
        assert.strictEqual(launched.status?.allocatable?.cpu, "1900m")
        assert.deepStrictEqual(launched.spec, input.spec)
        assert.strictEqual(launched.metadata.name, "default-x1")
      })
    )
  )

  it.effect("launches on-demand when the NodeClaim requires it, and the smallest type that fits its requests", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        const launched = yield* cloud.create(
          nodeClaim({
            requirements: [
              { key: Labels.CapacityType, operator: "In", values: ["on-demand"] },
              { key: Labels.Zone, operator: "In", values: ["test-zone-c", "test-zone-d"] },
              { key: Labels.Arch, operator: "In", values: ["arm64"] }
            ],
            requests: { cpu: "3", memory: "1Gi" }
          })
        )
        const labels = launched.metadata.labels ?? {}
        assert.strictEqual(labels[Labels.InstanceType], "c-4x-arm64-linux")
        assert.strictEqual(labels[Labels.CapacityType], "on-demand")
        assert.strictEqual(labels[Labels.Zone], "test-zone-c")
      })
    )
  )

  it.effect("labels an instance launched into one of several reservations with the reservation it got", () => {
    // The scheduler pins a NodeClaim to every reservation it holds (here two): the launch picks one, and the NodeClaim
    // and its Node say which (upstream addInstanceLabels takes the offering's single-value requirements).
    const reserved = (reservationID: string, price: number) => ({
      zone: "test-zone-a",
      capacityType: Labels.CapacityTypeReserved,
      price,
      available: true,
      reservationID,
      reservationCapacity: 1
    })
    const reservable = Catalog.toInstanceType({
      name: "reservable",
      architecture: "amd64",
      operatingSystems: ["linux"],
      cpu: "2",
      memory: "4Gi",
      offerings: [
        { zone: "test-zone-a", capacityType: Labels.CapacityTypeOnDemand, price: 0.1, available: true },
        reserved("r-1", 0.002),
        reserved("r-2", 0.001)
      ]
    })
    return run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        const launched = yield* cloud.create(
          nodeClaim({
            requirements: [
              { key: Labels.CapacityType, operator: "In", values: [Labels.CapacityTypeReserved] },
              { key: KWOKNodeClass.ReservationIDLabel, operator: "In", values: ["r-1", "r-2"] }
            ]
          })
        )
        assert.strictEqual(launched.metadata.labels?.[KWOKNodeClass.ReservationIDLabel], "r-2")
        yield* settle
        const node = yield* getNode("default-abcde")
        assert.strictEqual(node?.metadata.labels?.[KWOKNodeClass.ReservationIDLabel], "r-2")
        assert.strictEqual(node?.metadata.labels?.[Labels.CapacityType], Labels.CapacityTypeReserved)
      }),
      { instanceTypes: [reservable], reservedCapacity: true }
    )
  })

  it.effect("breaks price ties by spot first, then instance type name, then zone", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        const launch = (name: string, values: ReadonlyArray<string>) =>
          Effect.map(
            cloud.create(nodeClaim({ name, ...(values.length === 0 ? {} : { requirements: onlyType(values) }) })),
            (launched) => {
              const labels = launched.metadata.labels ?? {}
              return `${labels[Labels.InstanceType]}/${labels[Labels.CapacityType]}/${labels[Labels.Zone]}`
            }
          )
        // Spot and on-demand at the same price: spot.
        assert.strictEqual(yield* launch("a", ["same-price"]), "same-price/spot/zone-b")
        // Equal offerings on two types: the type's name decides before the zone does.
        assert.strictEqual(yield* launch("b", ["beta", "alpha"]), "alpha/spot/zone-z")
        // A cheaper offering beats the tie rules; unavailable offerings are never launched.
        assert.strictEqual(yield* launch("c", ["alpha", "beta", "cheap"]), "cheap/on-demand/zone-c")
        // Every type: the cheapest over the whole catalogue.
        assert.strictEqual(yield* launch("d", []), "cheap/on-demand/zone-c")
      }),
      {
        instanceTypes: [
          entry("same-price", [
            { zone: "zone-c", capacityType: "on-demand", price: 0.5 },
            { zone: "zone-c", capacityType: "spot", price: 0.5 },
            { zone: "zone-b", capacityType: "spot", price: 0.5 },
            { zone: "zone-a", capacityType: "spot", price: 0.1, available: false }
          ]),
          entry("beta", [{ zone: "zone-a", capacityType: "spot", price: 0.3 }]),
          entry("alpha", [
            { zone: "zone-z", capacityType: "spot", price: 0.3 },
            { zone: "zone-y", capacityType: "on-demand", price: 0.3 }
          ]),
          entry("cheap", [
            { zone: "zone-c", capacityType: "on-demand", price: 0.2 },
            { zone: "zone-a", capacityType: "spot", price: 0.05, available: false }
          ])
        ]
      }
    )
  )

  it.effect("registers the Node only once the NodeClass's registration delay has passed", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("slow", { nodeRegistrationDelay: "30s" })
        yield* cloud.create(
          nodeClaim({
            name: "default-n1",
            nodeClass: "slow",
            requirements: onlyType(["c-2x-amd64-linux"]),
            taints: [{ key: "dedicated", value: "web", effect: "NoSchedule" }],
            startupTaints: [
              { key: "example.com/booting", effect: "NoSchedule" },
              { key: "dedicated", value: "other", effect: "NoSchedule" }
            ]
          })
        )
        yield* TestClock.adjust("29999 millis")
        assert.strictEqual(yield* getNode("default-n1"), undefined)
        yield* TestClock.adjust("1 millis")
        const node = yield* getNode("default-n1")
        assert.isDefined(node)
        const labels = node?.metadata.labels ?? {}
        assert.strictEqual(node?.spec.providerID, "kwok://default-n1")
        assert.strictEqual(labels[Labels.Hostname], "default-n1")
        assert.strictEqual(labels[KWOKNodeClass.KwokNodeLabel], "fake")
        assert.strictEqual(labels[Labels.NodePool], "default")
        assert.strictEqual(labels[Labels.InstanceType], "c-2x-amd64-linux")
        assert.strictEqual(labels[Labels.CapacityType], "spot")
        assert.strictEqual(labels[Labels.Zone], "test-zone-a")
        assert.strictEqual(labels[KWOKNodeClass.NodeClassLabel], "slow")
        assert.strictEqual(
          node?.metadata.annotations?.[KWOKNodeClass.InstancePriceLabel],
          String(kwokPrice("c-2x-amd64-linux", "spot", "test-zone-a"))
        )
        assert.deepStrictEqual(node?.spec.taints, [
          { key: "dedicated", value: "web", effect: "NoSchedule" },
          { key: "example.com/booting", effect: "NoSchedule" },
          { key: "karpenter.sh/unregistered", effect: "NoExecute" }
        ])
        assert.strictEqual(node?.status?.capacity?.cpu, "2")
        assert.strictEqual(node?.status?.allocatable?.memory, "4086Mi")
        assert.deepStrictEqual(node?.status?.conditions, [])
        assert.deepStrictEqual(node?.status?.nodeInfo, {
          kubeletVersion: "v1.32.0",
          architecture: "amd64",
          operatingSystem: "linux"
        })
      })
    )
  )

  it.effect("registers the Node at once without a delay, and outlives the scope of the caller", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        yield* createNodeClass("slow", { nodeRegistrationDelay: "1m" })
        yield* cloud.create(nodeClaim({ name: "now" }))
        assert.isDefined(yield* getNode("now"))
        // The reconcile that launched it ends (its scope closes) long before the Node registers.
        yield* Effect.scoped(cloud.create(nodeClaim({ name: "later", nodeClass: "slow" })))
        yield* TestClock.adjust("1 minute")
        assert.isDefined(yield* getNode("later"))
      })
    )
  )

  it.effect("retries the Node's creation while the API server is unavailable", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const hooks = yield* MemoryKube.MemoryApiServer
        yield* createNodeClass("default", { nodeRegistrationDelay: "1s" })
        yield* cloud.create(nodeClaim({ name: "flaky" }))
        yield* hooks.failNext("create", 3)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* getNode("flaky"), undefined)
        yield* TestClock.adjust("1 second")
        assert.isDefined(yield* getNode("flaky"))
      })
    )
  )

  it.effect("fails the launch, launching nothing, when the instance record cannot be written", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const hooks = yield* MemoryKube.MemoryApiServer
        yield* createNodeClass("default")
        yield* hooks.failNext("create", 1)
        const failure = yield* Effect.flip(cloud.create(nodeClaim({ name: "unlucky" })))
        assert.strictEqual(failure._tag, "CloudProviderError")
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(yield* cloud.list(), [])
        assert.strictEqual(yield* getNode("unlucky"), undefined)
      })
    )
  )

  it.effect("launches but never registers a Node when the NodeClass says failRegistration", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("broken", { failRegistration: true })
        const launched = yield* cloud.create(nodeClaim({ name: "ghost", nodeClass: "broken" }))
        assert.strictEqual(launched.status?.providerID, "kwok://ghost")
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* getNode("ghost"), undefined)
        assert.strictEqual((yield* cloud.get("kwok://ghost")).metadata.name, "ghost")
        assert.strictEqual((yield* cloud.list()).length, 1)
      })
    )
  )

  it.effect("reports insufficient capacity for a missing NodeClass and not-ready for a deleting one", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const kube = yield* KubeClient.KubeClient
        const missing = yield* Effect.flip(cloud.create(nodeClaim({ nodeClass: "nope" })))
        assert.strictEqual(missing._tag, "InsufficientCapacity")
        assert.include(missing.message, "nope")
        yield* createNodeClass("going", {}, ["example.com/hold"])
        yield* kube.delete(Resources.KWOKNodeClasses, "going")
        const deleting = yield* Effect.flip(cloud.create(nodeClaim({ nodeClass: "going" })))
        assert.strictEqual(deleting._tag, "NodeClassNotReady")
        assert.deepStrictEqual(yield* cloud.list(), [])
      })
    )
  )

  it.effect("reports insufficient capacity, naming the requirements, when no offering is compatible", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        const noZone = yield* Effect.flip(
          cloud.create(
            nodeClaim({
              requirements: [
                ...onlyType(["c-2x-amd64-linux"]),
                { key: Labels.Zone, operator: "In", values: ["elsewhere"] }
              ]
            })
          )
        )
        assert.strictEqual(noZone._tag, "InsufficientCapacity")
        assert.include(noZone.message, "elsewhere")
        assert.include(noZone.message, "c-2x-amd64-linux")
        const tooBig = yield* Effect.flip(
          cloud.create(nodeClaim({ requirements: onlyType(["c-2x-amd64-linux"]), requests: { cpu: "2" } }))
        )
        assert.strictEqual(tooBig._tag, "InsufficientCapacity")
        assert.include(tooBig.message, "cpu")
        const unknownType = yield* Effect.flip(cloud.create(nodeClaim({ requirements: onlyType(["x-1x"]) })))
        assert.strictEqual(unknownType._tag, "InsufficientCapacity")
        assert.deepStrictEqual(yield* cloud.list(), [])
      })
    )
  )

  it.effect("gets and lists instances before and after their Node exists", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("slow", { nodeRegistrationDelay: "10s" })
        const first = yield* cloud.create(nodeClaim({ name: "first", nodeClass: "slow" }))
        const second = yield* cloud.create(nodeClaim({ name: "second", nodeClass: "slow" }))
        assert.deepStrictEqual(yield* cloud.get("kwok://first"), first)
        assert.deepStrictEqual(
          (yield* cloud.list()).map((nc) => nc.status?.providerID),
          ["kwok://first", "kwok://second"]
        )
        yield* TestClock.adjust("10 seconds")
        assert.isDefined(yield* getNode("second"))
        assert.deepStrictEqual(yield* cloud.get("kwok://second"), second)
        assert.strictEqual((yield* cloud.list()).length, 2)
        const unknown = yield* Effect.flip(cloud.get("kwok://nobody"))
        assert.strictEqual(unknown._tag, "NodeClaimNotFound")
        const foreign = yield* Effect.flip(cloud.get("aws:///us-east-1a/i-123"))
        assert.strictEqual(foreign._tag, "NodeClaimNotFound")
      })
    )
  )

  it.effect("delete before registration cancels the Node; a second delete also says not found", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("slow", { nodeRegistrationDelay: "30s" })
        const launched = yield* cloud.create(nodeClaim({ name: "short-lived", nodeClass: "slow" }))
        yield* TestClock.adjust("10 seconds")
        const gone = yield* Effect.flip(cloud.delete(launched))
        assert.strictEqual(gone._tag, "NodeClaimNotFound")
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* getNode("short-lived"), undefined)
        assert.strictEqual((yield* Effect.flip(cloud.get("kwok://short-lived")))._tag, "NodeClaimNotFound")
        assert.deepStrictEqual(yield* cloud.list(), [])
        assert.strictEqual((yield* Effect.flip(cloud.delete(launched)))._tag, "NodeClaimNotFound")
      })
    )
  )

  it.effect("delete after registration deletes the Node", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("default")
        const launched = yield* cloud.create(nodeClaim({ name: "done" }))
        assert.isDefined(yield* getNode("done"))
        assert.strictEqual((yield* Effect.flip(cloud.delete(launched)))._tag, "NodeClaimNotFound")
        assert.strictEqual(yield* getNode("done"), undefined)
        assert.deepStrictEqual(yield* cloud.list(), [])
        assert.strictEqual((yield* Effect.flip(cloud.get("kwok://done")))._tag, "NodeClaimNotFound")
      })
    )
  )

  it.effect("keeps the instance when the Node cannot be deleted, so a retry finishes the job", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        const hooks = yield* MemoryKube.MemoryApiServer
        yield* createNodeClass("default")
        const launched = yield* cloud.create(nodeClaim({ name: "sticky" }))
        yield* hooks.failNext("delete", 1)
        assert.strictEqual((yield* Effect.flip(cloud.delete(launched)))._tag, "CloudProviderError")
        assert.strictEqual((yield* cloud.get("kwok://sticky")).metadata.name, "sticky")
        assert.strictEqual((yield* Effect.flip(cloud.delete(launched)))._tag, "NodeClaimNotFound")
        assert.strictEqual(yield* getNode("sticky"), undefined)
      })
    )
  )

  it.effect(
    "reads back Nodes without an instance record (launched before records existed), as upstream's Node-backed get",
    () =>
      run(
        Effect.gen(function* () {
          const cloud = yield* CloudProvider.CloudProvider
          const kube = yield* KubeClient.KubeClient
          yield* kube.create(Resources.Nodes, {
            apiVersion: "v1",
            kind: "Node",
            metadata: { name: "survivor", labels: { [KWOKNodeClass.NodeClassLabel]: "default" } },
            spec: { providerID: "kwok://survivor" },
            status: { capacity: { cpu: "2" }, allocatable: { cpu: "1900m" } }
          })
          yield* kube.create(Resources.Nodes, {
            apiVersion: "v1",
            kind: "Node",
            metadata: { name: "elsewhere" },
            spec: { providerID: "aws:///zone/i-1" }
          })
          const survivor = yield* cloud.get("kwok://survivor")
          assert.strictEqual(survivor.status?.providerID, "kwok://survivor")
          assert.strictEqual(survivor.status?.allocatable?.cpu, "1900m")
          assert.deepStrictEqual(
            (yield* cloud.list()).map((nc) => nc.status?.providerID),
            ["kwok://survivor"]
          )
          assert.strictEqual((yield* Effect.flip(cloud.delete(survivor)))._tag, "NodeClaimNotFound")
          assert.strictEqual(yield* getNode("survivor"), undefined)
          assert.deepStrictEqual(yield* cloud.list(), [])
        })
      )
  )

  it.effect("names instances after their NodeClaims, the same on every run", () =>
    Effect.gen(function* () {
      const launchAll = run(
        Effect.gen(function* () {
          const cloud = yield* CloudProvider.CloudProvider
          yield* createNodeClass("default")
          const names = ["default-b", "default-a", "other-z"]
          return yield* Effect.forEach(names, (name) =>
            Effect.map(cloud.create(nodeClaim({ name })), (launched) => launched.status?.providerID)
          )
        })
      )
      const first = yield* launchAll
      assert.deepStrictEqual(first, ["kwok://default-b", "kwok://default-a", "kwok://other-z"])
      assert.deepStrictEqual(yield* launchAll, first)
    })
  )

  it.effect("launching an instance again returns it as first launched, its registration time unchanged", () =>
    run(
      Effect.gen(function* () {
        const cloud = yield* CloudProvider.CloudProvider
        yield* createNodeClass("slow", { nodeRegistrationDelay: "30s" })
        const first = yield* cloud.create(nodeClaim({ name: "twice", nodeClass: "slow" }))
        yield* TestClock.adjust("20 seconds")
        const again = yield* cloud.create(
          nodeClaim({ name: "twice", nodeClass: "slow", requirements: onlyType(["c-4x-amd64-linux"]) })
        )
        assert.deepStrictEqual(again, first)
        yield* TestClock.adjust("9999 millis")
        assert.strictEqual(yield* getNode("twice"), undefined)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(
          (yield* getNode("twice"))?.metadata.labels?.[Labels.InstanceType],
          first.metadata.labels?.[Labels.InstanceType]
        )
        assert.strictEqual((yield* cloud.list()).length, 1)
      })
    )
  )

  it.effect("a provider already running when another launched registers the Node on time once the launcher stops", () =>
    runProcesses(
      Effect.gen(function* () {
        yield* createNodeClass("slow", { nodeRegistrationDelay: "30s" })
        const standby = yield* startProvider
        const leader = yield* startProvider
        yield* leader.cloud.create(nodeClaim({ name: "handed-over", nodeClass: "slow" }))
        yield* settle
        yield* Scope.close(leader.scope, Exit.void)
        yield* TestClock.adjust("29999 millis")
        assert.strictEqual(yield* getNode("handed-over"), undefined)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual((yield* getNode("handed-over"))?.spec.providerID, "kwok://handed-over")
        assert.deepStrictEqual(
          (yield* standby.cloud.list()).map((instance) => instance.status?.providerID),
          ["kwok://handed-over"]
        )
      })
    )
  )

  it.effect("an instance deleted by one provider is not registered by another", () =>
    runProcesses(
      Effect.gen(function* () {
        yield* createNodeClass("slow", { nodeRegistrationDelay: "30s" })
        const other = yield* startProvider
        const launcher = yield* startProvider
        const launched = yield* launcher.cloud.create(nodeClaim({ name: "cancelled", nodeClass: "slow" }))
        yield* settle
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* Effect.flip(launcher.cloud.delete(launched)))._tag, "NodeClaimNotFound")
        yield* settle
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* getNode("cancelled"), undefined)
        assert.deepStrictEqual(yield* other.cloud.list(), [])
      })
    )
  )
})
