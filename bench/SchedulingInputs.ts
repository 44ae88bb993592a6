/**
 * The scheduling benchmark's inputs, shared by `bench:scheduling` and the scheduler's determinism test: upstream's
 * scheduling_benchmark_test.go mix (one NodePool; one fifth each plain, zone-spread, hostname-spread, zonal
 * pod-affinity and hostname anti-affinity pods with seeded random requests) and the catalogues it runs on.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as FakeInstanceTypes from "../layers/cloudprovider/fake/InstanceTypes.ts"
import * as Labels from "../src/api/Labels.ts"
import * as NodePoolApi from "../src/api/NodePool.ts"
import * as PodApi from "../src/api/Pod.ts"
import * as Catalog from "../src/cloudprovider/Catalog.ts"
import type * as InstanceType from "../src/cloudprovider/InstanceType.ts"
import { readDataJson } from "./Harness.ts"

/** A small deterministic generator (the benchmark must be reproducible). */
export const lcg = (seed: number) => {
  let state = seed >>> 0
  return (bound: number): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % bound
  }
}

const decodePod = Schema.decodeUnknownSync(PodApi.Pod)

/** The benchmark's pods: N/5 of each kind, the remainder plain. */
export const diversePods = (count: number, seed = 42): Array<PodApi.Pod> => {
  const random = lcg(seed)
  const pick = <A>(values: ReadonlyArray<A>): A => values[random(values.length)]!
  const letters = ["a", "b", "c", "d", "e", "f", "g"]
  const requests = () => ({
    cpu: `${pick([100, 250, 500, 1000, 1500])}m`,
    memory: `${pick([100, 256, 512, 1024, 2048, 4096])}Mi`
  })
  let index = 0
  const make = (labels: Record<string, string>, spec: Record<string, unknown>) =>
    decodePod({
      metadata: { name: `pod-${index}`, namespace: "default", uid: `uid-${String(index++).padStart(6, "0")}`, labels },
      spec: { containers: [{ name: "app", resources: { requests: requests() } }], ...spec }
    })
  const spread = (key: string) => {
    const labels = { "my-label": pick(letters) }
    return make(labels, {
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: key,
          whenUnsatisfiable: "DoNotSchedule",
          labelSelector: { matchLabels: { "my-label": pick(letters) } }
        }
      ]
    })
  }
  const fifth = Math.floor(count / 5)
  const pods: Array<PodApi.Pod> = []
  for (let i = 0; i < fifth; i++) pods.push(make({ "my-label": pick(letters) }, {}))
  for (let i = 0; i < fifth; i++) pods.push(spread(Labels.Zone))
  for (let i = 0; i < fifth; i++) pods.push(spread(Labels.Hostname))
  for (let i = 0; i < fifth; i++) {
    pods.push(
      make(
        { "my-affinity": pick(letters) },
        {
          affinity: {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: Labels.Zone, labelSelector: { matchLabels: { "my-affinity": pick(letters) } } }
              ]
            }
          }
        }
      )
    )
  }
  for (let i = 0; i < fifth; i++) {
    pods.push(
      make(
        { app: "nginx" },
        {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: Labels.Hostname, labelSelector: { matchLabels: { app: "nginx" } } }
              ]
            }
          }
        }
      )
    )
  }
  while (pods.length < count) pods.push(make({ "my-label": pick(letters) }, {}))
  return pods
}

/** The one NodePool: no requirements, so every instance type of the catalogue is an option. */
export const nodePool = Schema.decodeUnknownSync(NodePoolApi.NodePool)({
  apiVersion: "karpenter.sh/v1",
  kind: "NodePool",
  metadata: { name: "default" },
  spec: {
    template: {
      spec: { nodeClassRef: { group: "karpenter.test.sh", kind: "TestNodeClass", name: "default" }, requirements: [] }
    }
  }
})

/** The catalogues the benchmark can run on, with the well-known labels of their provider. */
export const catalogue = (
  name: string
): { readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>; readonly wellKnown: ReadonlySet<string> } => {
  switch (name) {
    case "kwok":
      return { instanceTypes: Catalog.kwok(), wellKnown: Catalog.kwokWellKnownLabels }
    case "aws": {
      const json = readDataJson("aws-instance-types.json")
      return { instanceTypes: Effect.runSync(Catalog.fromAwsJson(json)), wellKnown: Catalog.awsWellKnownLabels }
    }
    default:
      return { instanceTypes: FakeInstanceTypes.sized(400), wellKnown: FakeInstanceTypes.wellKnownLabels }
  }
}
