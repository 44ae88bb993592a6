import { assert, describe, it } from "@effect/vitest"
import * as Labels from "../../src/api/Labels.ts"
import * as Catalog from "../../src/cloudprovider/Catalog.ts"
import type * as InstanceType from "../../src/cloudprovider/InstanceType.ts"
import * as ScheduleOutput from "../../src/operator/ScheduleOutput.ts"
import * as Requirement from "../../src/scheduling/Requirement.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"

const wellKnown = Catalog.kwokWellKnownLabels

type OfferingRow = readonly [zone: string, capacityType: string, price: number, available?: boolean]

const instanceType = (name: string, offerings: ReadonlyArray<OfferingRow>): InstanceType.InstanceType =>
  Catalog.toInstanceType({
    name,
    architecture: "amd64",
    operatingSystems: ["linux"],
    cpu: "2",
    memory: "4Gi",
    offerings: offerings.map(([zone, capacityType, price, available = true]) => ({
      zone,
      capacityType,
      price,
      available
    }))
  })

const launch = (
  types: ReadonlyArray<InstanceType.InstanceType>,
  requirements: Requirements.Requirements = Requirements.empty
) => ScheduleOutput.launchOf(types, requirements, wellKnown)

const claim = (
  types: ReadonlyArray<InstanceType.InstanceType>,
  pods: ReadonlyArray<string>,
  requirementsForLaunch: Requirements.Requirements = Requirements.empty
): ScheduleOutput.PassResult["nodeClaims"][number] => ({
  nodePool: "default",
  instanceTypes: types,
  requirements: [{ key: Labels.Arch, operator: "In", values: ["amd64"] }],
  requirementsForLaunch,
  pods
})

describe("ScheduleOutput launch", () => {
  it("takes the cheapest available offering over all instance types", () => {
    const types = [
      instanceType("a", [
        ["zone-a", "on-demand", 0.3],
        ["zone-a", "spot", 0.05, false]
      ]),
      instanceType("b", [["zone-b", "spot", 0.2]])
    ]
    assert.deepStrictEqual(launch(types), { instanceType: "b", zone: "zone-b", capacityType: "spot", price: 0.2 })
  })

  it("breaks a price tie by capacity type first: spot before on-demand", () => {
    const types = [instanceType("a", [["zone-a", "on-demand", 0.1]]), instanceType("z", [["zone-z", "spot", 0.1]])]
    assert.deepStrictEqual(launch(types), { instanceType: "z", zone: "zone-z", capacityType: "spot", price: 0.1 })
  })

  it("then by instance type name before zone", () => {
    const types = [
      instanceType("b-type", [["zone-a", "spot", 0.1]]),
      instanceType("a-type", [
        ["zone-z", "spot", 0.1],
        ["zone-y", "spot", 0.1]
      ])
    ]
    assert.deepStrictEqual(launch(types), { instanceType: "a-type", zone: "zone-y", capacityType: "spot", price: 0.1 })
  })

  it("honours the launch requirements (capacity type, zone) and gives null when nothing is launchable", () => {
    const types = [
      instanceType("a", [
        ["zone-a", "spot", 0.05],
        ["zone-a", "on-demand", 0.1],
        ["zone-b", "on-demand", 0.1]
      ])
    ]
    const onDemand = Requirements.make(Requirement.make(Labels.CapacityType, "In", ["on-demand"]))
    assert.deepStrictEqual(launch(types, onDemand), {
      instanceType: "a",
      zone: "zone-a",
      capacityType: "on-demand",
      price: 0.1
    })
    const zoneB = Requirements.make(Requirement.make(Labels.Zone, "In", ["zone-b"]))
    assert.strictEqual(launch(types, zoneB)?.zone, "zone-b")
    const zoneC = Requirements.make(Requirement.make(Labels.Zone, "In", ["zone-c"]))
    assert.strictEqual(launch(types, zoneC), null)
    assert.strictEqual(launch([instanceType("gone", [["zone-a", "spot", 0.01, false]])]), null)
  })
})

const cheap = instanceType("cheap", [
  ["zone-b", "spot", 0.07],
  ["zone-a", "spot", 0.07],
  ["zone-a", "on-demand", 0.1]
])
const big = instanceType("big", [["zone-a", "on-demand", 0.4]])

const result: ScheduleOutput.PassResult = {
  nodeClaims: [
    claim([cheap, big], ["default/web-2", "default/web-1", "batch/job"]),
    claim([big], ["default/db"], Requirements.make(Requirement.make(Labels.Zone, "In", ["zone-z"])))
  ],
  existingNodes: [
    { name: "node-b", pods: ["default/y", "default/x"] },
    { name: "node-a", pods: ["default/z"] },
    { name: "node-idle", pods: [] }
  ],
  unschedulable: [
    { pod: "default/huge", reason: "no instance type satisfied resources {cpu: 1000}" },
    { pod: "default/daemon", reason: "not provisionable: owned by a DaemonSet" }
  ]
}

describe("ScheduleOutput.toJson", () => {
  it("produces the contract's shape with deterministic ordering", () => {
    const json = ScheduleOutput.toJson(result, wellKnown)
    assert.deepStrictEqual(json, {
      nodeClaims: [
        {
          nodePool: "default",
          instanceTypes: ["cheap", "big"],
          requirements: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }],
          pods: ["batch/job", "default/web-1", "default/web-2"],
          launch: { instanceType: "cheap", zone: "zone-a", capacityType: "spot", price: 0.07 }
        },
        {
          nodePool: "default",
          instanceTypes: ["big"],
          requirements: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }],
          pods: ["default/db"],
          launch: null
        }
      ],
      existingNodes: [
        { name: "node-a", pods: ["default/z"] },
        { name: "node-b", pods: ["default/x", "default/y"] }
      ],
      unschedulable: [
        { pod: "default/daemon", reason: "not provisionable: owned by a DaemonSet" },
        { pod: "default/huge", reason: "no instance type satisfied resources {cpu: 1000}" }
      ]
    })
    // Round-trips through JSON unchanged: nothing undefined, no Maps or Sets.
    assert.deepStrictEqual(JSON.parse(JSON.stringify(json)), json)
  })

  it("is empty for an empty pass", () => {
    assert.deepStrictEqual(ScheduleOutput.toJson({ nodeClaims: [], existingNodes: [], unschedulable: [] }, wellKnown), {
      nodeClaims: [],
      existingNodes: [],
      unschedulable: []
    })
  })
})

describe("ScheduleOutput.toText", () => {
  it("shows each NodeClaim's launch, options and pods, existing nodes, reasons and a summary", () => {
    const text = ScheduleOutput.toText(result, wellKnown)
    const lines = text.split("\n")
    assert.include(text, "NodeClaim 1 (nodepool default)")
    assert.include(text, "launch:   cheap in zone-a, spot, $0.07/hour")
    assert.include(text, "options:  2 instance types")
    assert.include(text, "options:  1 instance type\n")
    assert.include(text, "launch:   none (no available offering compatible with the requirements)")
    assert.include(lines, "    batch/job")
    assert.include(lines, "  node-b (2 pods):")
    assert.notInclude(text, "node-idle")
    assert.include(lines, "  default/daemon: not provisionable: owned by a DaemonSet")
    assert.include(lines, "  default/huge: no instance type satisfied resources {cpu: 1000}")
    assert.strictEqual(lines.at(-1), "4 pods on 2 new NodeClaims, 3 on existing nodes, 2 unschedulable")
  })

  it("keeps every reason on one line and pluralises the summary", () => {
    const text = ScheduleOutput.toText(
      {
        nodeClaims: [claim([cheap], ["default/a"])],
        existingNodes: [],
        unschedulable: [{ pod: "default/b", reason: 'incompatible with nodepool "default",\n  taint not tolerated' }]
      },
      wellKnown
    )
    assert.include(text.split("\n"), '  default/b: incompatible with nodepool "default", taint not tolerated')
    assert.strictEqual(text.split("\n").at(-1), "1 pod on 1 new NodeClaim, 0 on existing nodes, 1 unschedulable")
    assert.notInclude(text, "Existing nodes")
  })
})
