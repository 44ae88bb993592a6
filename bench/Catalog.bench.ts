/**
 * Catalogue and requirements primitives: what every scheduling pass does per instance type.
 */
import * as Effect from "effect/Effect"
import * as Labels from "../src/api/Labels.ts"
import * as Catalog from "../src/cloudprovider/Catalog.ts"
import * as InstanceType from "../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../src/scheduling/Requirement.ts"
import * as Requirements from "../src/scheduling/Requirements.ts"
import * as Resources from "../src/scheduling/ResourceLists.ts"
import { measure, type Result, readDataJson } from "./Harness.ts"

/** Loads the catalogues and filters them the way the scheduler will. */
export const runCatalog = async (): Promise<Array<Result>> => {
  const awsJson = readDataJson("aws-instance-types.json")
  const aws = await Effect.runPromise(Catalog.fromAwsJson(awsJson))
  const podRequirements = Requirements.make(
    Requirement.make(Labels.Arch, "In", ["amd64"]),
    Requirement.make(Labels.CapacityType, "In", ["spot", "on-demand"]),
    Requirement.make("karpenter.k8s.aws/instance-category", "In", ["c", "m", "r"])
  )
  const requests = Resources.fromResourceList({ cpu: "3", memory: "6Gi", pods: "1" })
  return [
    await measure("catalog", "build KWOK catalogue (144 types)", () => Catalog.kwok().length),
    await measure("catalog", "decode + build AWS catalogue (1,363 types)", async () => {
      const types = await Effect.runPromise(Catalog.fromAwsJson(awsJson))
      return types.length
    }),
    await measure("catalog", "filter AWS types: compatible ∧ fits ∧ launchable", () => {
      const kept = aws.filter(
        (instanceType) =>
          Requirements.isCompatible(instanceType.requirements, podRequirements, {
            allowUndefined: Catalog.awsWellKnownLabels
          }) &&
          Resources.fits(requests, instanceType.allocatable) &&
          InstanceType.compatibleOfferings(instanceType, podRequirements, Catalog.awsWellKnownLabels).length > 0
      )
      if (kept.length === 0) throw new Error("the filter benchmark should keep some instance types")
      return aws.length
    }),
    await measure("catalog", "order AWS types by price", () => InstanceType.orderByPrice(aws, podRequirements).length)
  ]
}
