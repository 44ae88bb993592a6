/**
 * Launching one EC2 instance for a NodeClaim (aws/karpenter-provider-aws v1.4.0, `pkg/providers/instance/instance.go`
 * `Create`/`launchInstance`/`updateUnavailableOfferingsCache`/`combineFleetErrors`, and
 * `pkg/providers/launchtemplate/launchtemplate.go` `EnsureAll`): narrow the instance types, choose the capacity type,
 * ensure the launch templates (cached for a minute, else described, else created), ask an instant fleet for one
 * instance and remember each pool it answered with insufficient capacity for three minutes.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { EC2NodeClass } from "../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../src/api/Labels.ts"
import type { NodeClaim } from "../../../src/api/NodeClaim.ts"
import { AwsLabels } from "../../../src/cloudprovider/aws/Ec2InstanceTypes.ts"
import { CreateError, InsufficientCapacity } from "../../../src/cloudprovider/CloudProvider.ts"
import type * as InstanceType from "../../../src/cloudprovider/InstanceType.ts"
import * as Requirement from "../../../src/scheduling/Requirement.ts"
import * as Requirements from "../../../src/scheduling/Requirements.ts"
import * as Resources from "../../../src/scheduling/ResourceLists.ts"
import * as FleetRequest from "./FleetRequest.ts"
import * as LaunchTemplates from "./LaunchTemplates.ts"
import { CapacityReservations } from "./providers/CapacityReservations.ts"
import type { AwsFailure } from "./sdk/AwsError.ts"
import { isUnfulfillableCapacity } from "./sdk/AwsError.ts"
import { Ec2 } from "./sdk/Ec2.ts"
import { UnavailableOfferings } from "./UnavailableOfferings.ts"

/** What a launch needs: the node class (with its resolved status), the NodeClaim and its candidate instance types. */
export interface LaunchRequest {
  readonly nodeClass: EC2NodeClass
  readonly nodeClaim: NodeClaim
  readonly instanceTypes: ReadonlyArray<InstanceType.InstanceType>
}

/** The instance CreateFleet launched. */
export interface Launched {
  readonly instanceId: string
  readonly instanceType: string
  readonly zone: string
  readonly subnetId: string
  readonly imageId: string
  readonly capacityType: string
  /** The capacity reservation it launched into (reserved launches). */
  readonly capacityReservationId: string | undefined
  /** The tags it was launched with. */
  readonly tags: Readonly<Record<string, string>>
}

/** Why a launch failed. */
export type LaunchError = InsufficientCapacity | CreateError

/** The launcher's settings. */
export interface Options {
  readonly cluster: LaunchTemplates.Cluster
  /** The ReservedCapacity feature gate (what the launch templates say about reservations). */
  readonly reservedCapacity?: boolean
}

/** The launcher. */
export class Launcher extends Context.Service<
  Launcher,
  { launch(request: LaunchRequest): Effect.Effect<Launched, LaunchError> }
>()("karpenter-effect/layers/cloudprovider/aws/Launcher") {}

/** How long a launch template stays known without a describe call (upstream's launch template cache TTL). */
export const templateCacheTtl = Duration.minutes(1)

/** CreateFleet named a launch template EC2 no longer has: the templates are forgotten and the launch is retried. */
class LaunchTemplateNotFound extends Schema.TaggedError<LaunchTemplateNotFound>()("LaunchTemplateNotFound", {
  message: Schema.String
}) {}

// Upstream `ToReasonMessage`: the first code found in the error text names the Launched condition's reason.
const reasons: ReadonlyArray<readonly [string, string]> = [
  ["AuthFailure.ServiceLinkedRoleCreationNotPermitted", "SpotSLRCreationFailed"],
  ["UnauthorizedOperation", "Unauthorized"],
  ["AccessDenied", "Unauthorized"],
  ["AuthFailure", "Unauthorized"],
  ["iamInstanceProfile.name is invalid", "InstanceProfileNameInvalid"],
  ["InvalidLaunchTemplateId.NotFound", "LaunchTemplateNotFound"],
  ["InvalidAMIID.Malformed", "InvalidAMIID"],
  ["RequestLimitExceeded", "RequestLimitExceeded"],
  ["InternalError", "InternalError"],
  ["MaxFleetCountExceeded", "FleetQuotaExceeded"],
  ["PendingVerification", "AccountPendingVerification"],
  ["MaxSpotInstanceCountExceeded", "SpotQuotaExceeded"],
  ["VcpuLimitExceeded", "VCPULimitExceeded"],
  ["InsufficientFreeAddressesInSubnet", "InsufficientFreeAddressesInSubnet"]
]

/** A CreateError whose reason the error text picks. */
export const createError = (context: string, text: string): CreateError =>
  new CreateError({
    conditionReason: reasons.find(([code]) => text.includes(code))?.[1] ?? "LaunchFailed",
    conditionMessage: `${context}: ${text}`
  })

const awsText = (error: AwsFailure) => `${error.code}: ${error.message}`

const isTemplateNotFound = (error: AwsFailure) =>
  error.code === "InvalidLaunchTemplateName.NotFoundException" || error.code === "InvalidLaunchTemplateId.NotFound"

/**
 * The failure of a fleet that launched nothing (upstream `combineFleetErrors`): insufficient capacity when every
 * error is a capacity error, else a CreateError; the distinct `code: message` texts, sorted, in either case.
 */
export const fleetFailure = (errors: ReadonlyArray<Ec2Sdk.CreateFleetError>): LaunchError => {
  const text = [...new Set(errors.map((error) => `${error.ErrorCode ?? ""}: ${error.ErrorMessage ?? ""}`))]
    .sort()
    .join("; ")
  return errors.every((error) => isUnfulfillableCapacity(error.ErrorCode ?? ""))
    ? new InsufficientCapacity({ message: `with fleet error(s), ${text}` })
    : createError("creating fleet", text)
}

/** The launcher over the Ec2 service and the unavailable-offerings cache. */
export const make = Effect.fn("Launcher.make")(function* (options: Options) {
  const ec2 = yield* Ec2
  const unavailable = yield* UnavailableOfferings
  const reservations = yield* CapacityReservations
  const ttlMillis = Duration.toMillis(templateCacheTtl)
  // Name → the template and when the entry expires; every use extends it.
  const templates = new Map<string, { readonly template: Ec2Sdk.LaunchTemplate; expiresAt: number }>()

  const ensureTemplate = Effect.fn("Launcher.ensureTemplate")(function* (resolved: LaunchTemplates.Resolved) {
    const now = yield* Clock.currentTimeMillis
    const cached = templates.get(resolved.name)
    if (cached !== undefined && now < cached.expiresAt) {
      cached.expiresAt = now + ttlMillis
      return cached.template
    }
    const template = yield* ec2.describeLaunchTemplates({ LaunchTemplateNames: [resolved.name] }).pipe(
      Effect.flatMap((found) =>
        found.length === 1
          ? Effect.succeed(found[0] as Ec2Sdk.LaunchTemplate)
          : Effect.fail(createError("describing launch templates", `expected one, found ${found.length}`))
      ),
      Effect.catchTag("AwsNotFound", () =>
        ec2.createLaunchTemplate(resolved.input).pipe(Effect.map((created) => created.LaunchTemplate ?? {}))
      ),
      Effect.mapError((error) =>
        error._tag === "CreateError" ? error : createError("ensuring launch template", awsText(error))
      )
    )
    templates.set(resolved.name, { template, expiresAt: now + ttlMillis })
    return template
  })

  const availableIps = Effect.fn("Launcher.availableIps")(function* (nodeClass: EC2NodeClass) {
    const ids = (nodeClass.status?.subnets ?? []).map((subnet) => subnet.id)
    if (ids.length === 0) {
      return yield* new CreateError({
        conditionReason: "SubnetResolutionFailed",
        conditionMessage: "Error getting subnets: no subnets are present in the status"
      })
    }
    const subnets = yield* ec2
      .describeSubnets({ SubnetIds: ids })
      .pipe(Effect.mapError((error) => createError("getting subnets", awsText(error))))
    return new Map(subnets.map((subnet) => [subnet.SubnetId ?? "", subnet.AvailableIpAddressCount ?? 0]))
  })

  const launchOnce = Effect.fn("Launcher.launchOnce")(function* (
    request: LaunchRequest,
    capacityType: string,
    instanceTypes: ReadonlyArray<InstanceType.InstanceType>,
    requirements: Requirements.Requirements
  ) {
    const { nodeClass, nodeClaim } = request
    const subnets = FleetRequest.zonalSubnets(nodeClass, yield* availableIps(nodeClass))
    const missing = LaunchTemplates.missingStatus(nodeClass)
    if (missing !== undefined) return yield* createError("getting launch template configs", missing)
    const tags = LaunchTemplates.launchTags(nodeClass, nodeClaim, options.cluster.name)
    const common = {
      cluster: options.cluster,
      nodeClass,
      nodeClaim,
      capacityType,
      tags,
      reservedCapacity: options.reservedCapacity === true
    }
    const pinned = FleetRequest.pinCapacityType(requirements, capacityType)
    // A reserved launch has a template per reservation, targeting it, whose overrides are that reservation's pool
    // (upstream `Resolve` splits the types by reservation id, `getOverrides` keeps the reservation's offering).
    const resolved =
      capacityType === Labels.CapacityTypeReserved
        ? instanceTypes.flatMap((instanceType) =>
            FleetRequest.reservationIdsOf(instanceType).flatMap((capacityReservationId) =>
              LaunchTemplates.resolve({ ...common, instanceTypes: [instanceType], capacityReservationId }).map(
                (template) => ({
                  template,
                  requirements: new Map(pinned).set(
                    AwsLabels.capacityReservationId,
                    Requirement.make(AwsLabels.capacityReservationId, "In", [capacityReservationId])
                  )
                })
              )
            )
          )
        : LaunchTemplates.resolve({ ...common, instanceTypes }).map((template) => ({ template, requirements: pinned }))
    const configs: Array<FleetRequest.TemplateConfig> = []
    // Upstream ensures every resolved template first and then drops those without overrides; a template no override
    // names is never used, so it is not created here.
    for (const { template, requirements: templateRequirements } of resolved) {
      const overrides = FleetRequest.overrides(template.instanceTypes, subnets, templateRequirements, template.imageId)
      if (overrides.length === 0) continue
      const ensured = yield* ensureTemplate(template)
      configs.push({ launchTemplateName: ensured.LaunchTemplateName ?? template.name, overrides })
    }
    if (configs.length === 0) {
      return yield* createError(
        "getting launch template configs",
        "no capacity offerings are currently available given the constraints"
      )
    }
    const output = yield* ec2
      .createFleet(FleetRequest.createFleetInput({ nodeClass, capacityType, tags, configs }))
      .pipe(
        Effect.catch((error): Effect.Effect<never, CreateError | LaunchTemplateNotFound> => {
          if (!isTemplateNotFound(error)) return Effect.fail(createError("creating fleet request", awsText(error)))
          for (const config of configs) templates.delete(config.launchTemplateName)
          return Effect.fail(new LaunchTemplateNotFound({ message: awsText(error) }))
        })
      )
    const errors = output.Errors ?? []
    // upstream `updateUnavailableOfferingsCache`: a reserved launch's every error marks its reservation used up.
    for (const error of errors) {
      const override = error.LaunchTemplateAndOverrides?.Overrides
      if (override === undefined) continue
      if (capacityType === Labels.CapacityTypeReserved) {
        const id = FleetRequest.reservationIdOf(
          instanceTypes,
          override.InstanceType ?? "",
          override.AvailabilityZone ?? ""
        )
        if (id !== undefined) yield* reservations.markUnavailable([id])
        continue
      }
      if (!isUnfulfillableCapacity(error.ErrorCode ?? "")) continue
      yield* unavailable.markUnavailable(capacityType, override.InstanceType ?? "", override.AvailabilityZone ?? "")
    }
    const fleetInstance = output.Instances?.[0]
    const instanceId = fleetInstance?.InstanceIds?.[0]
    if (fleetInstance === undefined || instanceId === undefined) return yield* fleetFailure(errors)
    const chosen = fleetInstance.LaunchTemplateAndOverrides?.Overrides
    const instanceType = fleetInstance.InstanceType ?? chosen?.InstanceType ?? ""
    const zone = chosen?.AvailabilityZone ?? ""
    return {
      instanceId,
      instanceType,
      zone,
      subnetId: chosen?.SubnetId ?? "",
      imageId: chosen?.ImageId ?? "",
      capacityType,
      capacityReservationId:
        capacityType === Labels.CapacityTypeReserved
          ? FleetRequest.reservationIdOf(instanceTypes, instanceType, zone)
          : undefined,
      tags
    } satisfies Launched
  })

  const launch = Effect.fn("Launcher.launch")(function* (request: LaunchRequest) {
    const requirements = Requirements.fromNodeSelectorRequirements(request.nodeClaim.spec.requirements)
    const isUnavailable = yield* unavailable.snapshot
    const requests = Resources.fromResourceList(request.nodeClaim.spec.resources?.requests)
    // A launch that may use reserved capacity asks for reserved pools only (upstream `Create`).
    const instanceTypes = FleetRequest.onlyReserved(
      requirements,
      FleetRequest.narrow(
        requirements,
        FleetRequest.compatibleTypes(
          requirements,
          requests,
          FleetRequest.withUnavailable(request.instanceTypes, isUnavailable)
        )
      )
    )
    const capacityType = FleetRequest.capacityTypeOf(requirements, instanceTypes)
    const attempt = launchOnce(request, capacityType, instanceTypes, requirements)
    // The template cache can be out of date (a template deleted behind our back): a second try creates it again.
    return yield* attempt.pipe(
      Effect.catchTag("LaunchTemplateNotFound", () => attempt),
      Effect.catchTag("LaunchTemplateNotFound", (error) =>
        Effect.fail(createError("launch templates not found when creating fleet request", error.message))
      )
    )
  })

  return Launcher.of({ launch })
})

/** The launcher for a cluster. */
export const layer = (
  options: Options
): Layer.Layer<Launcher, never, Ec2 | UnavailableOfferings | CapacityReservations> =>
  Layer.effect(Launcher, make(options))
