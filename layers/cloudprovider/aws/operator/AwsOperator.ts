/**
 * The AWS provider of a `controller` process (aws/karpenter-provider-aws v1.4.0 `pkg/operator/operator.go`,
 * `pkg/operator/options`, `pkg/controllers/controllers.go`): its settings validated as upstream's `Options.Validate`,
 * the real SDK services for the region, the CloudProvider with the unavailable-offerings cache it shares with the
 * interruption controller, and the provider's own controllers. The SDK clients load only when their layers are built.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Ec2Dataset from "../../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as Ec2Pricing from "../../../../src/cloudprovider/aws/Ec2Pricing.ts"
import type * as CloudProvider from "../../../../src/cloudprovider/CloudProvider.ts"
import type { EventRecorder } from "../../../../src/kube/EventRecorder.ts"
import type { KubeClient } from "../../../../src/kube/KubeClient.ts"
import type * as Options from "../../../../src/operator/Options.ts"
import type * as InformerCache from "../../../../src/runtime/InformerCache.ts"
import * as AwsCloudProvider from "../AwsCloudProvider.ts"
import * as InstanceGarbageCollection from "../controllers/InstanceGarbageCollection.ts"
import * as Interruption from "../controllers/Interruption.ts"
import * as NodeClassHash from "../controllers/NodeClassHash.ts"
import * as NodeClassStatus from "../controllers/NodeClassStatus.ts"
import * as PricingRefresh from "../controllers/PricingRefresh.ts"
import * as Tagging from "../controllers/Tagging.ts"
import * as Prices from "../Prices.ts"
import * as CapacityReservations from "../providers/CapacityReservations.ts"
import * as Ec2 from "../sdk/Ec2.ts"
import * as Iam from "../sdk/Iam.ts"
import * as Pricing from "../sdk/Pricing.ts"
import * as Sqs from "../sdk/Sqs.ts"
import * as Ssm from "../sdk/Ssm.ts"
import * as UnavailableOfferings from "../UnavailableOfferings.ts"

/** Every AWS service the provider and its controllers call. */
export type AwsServices = Ec2.Ec2 | Ssm.Ssm | Iam.Iam | Pricing.Pricing | Sqs.Sqs

/** What the provider's controllers run on: the operator's services and AWS's. */
export type ControllerServices =
  | KubeClient
  | EventRecorder
  | InformerCache.InformerCache
  | UnavailableOfferings.UnavailableOfferings
  | CapacityReservations.CapacityReservations
  | Prices.Prices
  | CloudProvider.CloudProvider
  | AwsServices
  | Scope.Scope

/** What the provider runs with: the validated settings and what was discovered at startup. */
export interface Environment {
  readonly settings: Options.AwsOptions
  /** The setting, else the SDK's region chain. */
  readonly region: string
  /** `major.minor` of the API server, whose EKS-optimized AMIs aliases resolve to. */
  readonly kubernetesVersion: string
  /** `--cluster-ca-bundle`, else the CA the controller's own connection trusts. */
  readonly caBundle: string | undefined
  /** kube-dns's service IP, the nodes' default cluster DNS; undefined when it could not be read. */
  readonly kubeDnsIp: string | undefined
  /** data/aws-instance-types.json: upstream's generated VPC limits and the bundled on-demand prices. */
  readonly dataset: ReadonlyArray<Ec2Dataset.DatasetRecord>
  /** The ReservedCapacity feature gate: capacity reservations are resolved and launched into only with it. */
  readonly reservedCapacity?: boolean
}

/** An absolute URL with a host (upstream `validateEndpoint`: `url.Parse`, `IsAbs`, `Hostname() != ""`). */
const isEndpointUrl = (text: string): boolean => {
  try {
    return new URL(text).hostname !== ""
  } catch {
    return false
  }
}

/**
 * upstream `Options.Validate`, its errors combined into one line as multierr does; the endpoint and the service CIDR
 * are required here because this build does not read them from EKS DescribeCluster.
 */
export const validate = (settings: Options.AwsOptions): Result.Result<Options.AwsOptions, string> => {
  const errors = [
    settings.clusterEndpoint === ""
      ? "missing field, cluster-endpoint (discovery through EKS DescribeCluster is not supported yet)"
      : isEndpointUrl(settings.clusterEndpoint)
        ? undefined
        : `${JSON.stringify(settings.clusterEndpoint)} is not a valid cluster-endpoint URL`,
    settings.vmMemoryOverheadPercent < 0 ? "vm-memory-overhead-percent cannot be negative" : undefined,
    settings.reservedENIs < 0 ? "reserved-enis cannot be negative" : undefined,
    settings.clusterName === "" ? "missing field, cluster-name" : undefined,
    settings.clusterCIDR === ""
      ? "missing field, cluster-cidr (discovery through EKS DescribeCluster is not supported yet)"
      : undefined
  ].filter((error) => error !== undefined)
  return errors.length === 0 ? Result.succeed(settings) : Result.fail(`validating options, ${errors.join("; ")}`)
}

/** The region of the SDK's default chain (AWS_REGION, AWS_DEFAULT_REGION, the shared config), if it names one. */
export const sdkRegion: Effect.Effect<string | undefined> = Effect.promise(async () => {
  const sdk = await import("@aws-sdk/client-ec2")
  const client = new sdk.EC2Client({})
  try {
    return await client.config.region()
  } catch {
    return undefined
  } finally {
    client.destroy()
  }
})

/** The real SDK services for a region. */
export const sdkLayer = (region: string): Layer.Layer<AwsServices> =>
  Layer.mergeAll(
    Ec2.layer({ region }),
    Ssm.layer({ region }),
    Iam.layer({ region }),
    Pricing.layer({ region }),
    Sqs.layer({ region })
  )

/** The bundled dataset beside the code: the repository's data/ (in the image, dist/data/). */
export const datasetPath = new URL("../../../../data/aws-instance-types.json", import.meta.url)

/** Reads data/aws-instance-types.json. */
export const loadDataset = Effect.fn("AwsOperator.loadDataset")(function* (path: URL = datasetPath) {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(path.pathname)
  return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(Ec2Dataset.Dataset))(text)
})

/** The CloudProvider and what it shares with the controllers: the unavailable-offerings cache and the price book. */
export const providerLayer = (environment: Environment) =>
  AwsCloudProvider.layer({
    cluster: {
      name: environment.settings.clusterName,
      endpoint: environment.settings.clusterEndpoint,
      cidr: environment.settings.clusterCIDR,
      caBundle:
        environment.settings.clusterCABundle !== "" ? environment.settings.clusterCABundle : environment.caBundle,
      kubeDnsIp: environment.kubeDnsIp
    },
    region: environment.region,
    generated: AwsCloudProvider.generatedData(environment.dataset),
    settings: {
      vmMemoryOverheadPercent: environment.settings.vmMemoryOverheadPercent,
      reservedENIs: environment.settings.reservedENIs
    }
  }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        UnavailableOfferings.layer,
        CapacityReservations.layer,
        Prices.layer(Ec2Pricing.fromStatic(Ec2Dataset.onDemandPrices(environment.dataset)))
      )
    )
  )

/**
 * The provider's controllers (upstream `controllers.NewControllers`), each started in the layer's scope: add new ones
 * here. Interruption runs only when a queue is named, as upstream.
 */
export const controllers = (
  environment: Environment
): ReadonlyArray<Effect.Effect<unknown, never, ControllerServices>> => {
  const { settings } = environment
  return [
    NodeClassStatus.make({
      clusterName: settings.clusterName,
      region: environment.region,
      kubernetesVersion: environment.kubernetesVersion,
      reservedCapacity: environment.reservedCapacity === true
    }),
    NodeClassHash.make(),
    Tagging.make({ clusterName: settings.clusterName }),
    InstanceGarbageCollection.make(),
    PricingRefresh.make({ region: environment.region, isolatedVpc: settings.isolatedVPC }),
    ...(settings.interruptionQueue === "" ? [] : [Interruption.make({ queueName: settings.interruptionQueue })])
  ]
}

/** {@link controllers} as one Layer, for the operator's Manager to run while this replica leads. */
export const controllersLayer = (
  environment: Environment
): Layer.Layer<never, never, Exclude<ControllerServices, Scope.Scope>> =>
  Layer.effectDiscard(Effect.forEach(controllers(environment), (start) => start, { discard: true }))

/**
 * IAM actions the controller's policy (manifests/aws/iam-policy.json) must grant that are no API call of its own:
 * EC2 authorizes them on the calls that need them.
 */
export const impliedActions: Readonly<Record<string, string>> = {
  "ec2:RunInstances": "CreateFleet of type instant launches its instances through RunInstances",
  "iam:PassRole": "a launch template names the instance profile of the node role, which EC2 passes to the instances"
}
