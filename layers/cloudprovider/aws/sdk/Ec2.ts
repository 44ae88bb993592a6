/**
 * The EC2 API calls the AWS provider makes (upstream `pkg/providers/*`), one method each. Paginated calls return every
 * item of every page. The SDK is loaded when {@link layer} is built, so importing this module costs nothing.
 */
import type * as Sdk from "@aws-sdk/client-ec2"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as AwsCall from "./AwsCall.ts"
import type { AwsFailure } from "./AwsError.ts"

/** The EC2 contract. */
export class Ec2 extends Context.Service<
  Ec2,
  {
    describeInstanceTypes(
      input: Sdk.DescribeInstanceTypesCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.InstanceTypeInfo>, AwsFailure>
    describeInstanceTypeOfferings(
      input: Sdk.DescribeInstanceTypeOfferingsCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.InstanceTypeOffering>, AwsFailure>
    describeSpotPriceHistory(
      input: Sdk.DescribeSpotPriceHistoryCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.SpotPrice>, AwsFailure>
    describeSubnets(input: Sdk.DescribeSubnetsCommandInput): Effect.Effect<ReadonlyArray<Sdk.Subnet>, AwsFailure>
    describeSecurityGroups(
      input: Sdk.DescribeSecurityGroupsCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.SecurityGroup>, AwsFailure>
    describeImages(input: Sdk.DescribeImagesCommandInput): Effect.Effect<ReadonlyArray<Sdk.Image>, AwsFailure>
    describeLaunchTemplates(
      input: Sdk.DescribeLaunchTemplatesCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.LaunchTemplate>, AwsFailure>
    describeInstances(
      input: Sdk.DescribeInstancesCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.Reservation>, AwsFailure>
    describeCapacityReservations(
      input: Sdk.DescribeCapacityReservationsCommandInput
    ): Effect.Effect<ReadonlyArray<Sdk.CapacityReservation>, AwsFailure>
    /** Without a `ClientToken`, one is made per call, so our retries of it are idempotent. */
    createFleet(input: Sdk.CreateFleetCommandInput): Effect.Effect<Sdk.CreateFleetCommandOutput, AwsFailure>
    /** Without a `ClientToken`, one is made per call, so our retries of it are idempotent. */
    createLaunchTemplate(
      input: Sdk.CreateLaunchTemplateCommandInput
    ): Effect.Effect<Sdk.CreateLaunchTemplateCommandOutput, AwsFailure>
    deleteLaunchTemplate(
      input: Sdk.DeleteLaunchTemplateCommandInput
    ): Effect.Effect<Sdk.DeleteLaunchTemplateCommandOutput, AwsFailure>
    terminateInstances(
      input: Sdk.TerminateInstancesCommandInput
    ): Effect.Effect<Sdk.TerminateInstancesCommandOutput, AwsFailure>
    createTags(input: Sdk.CreateTagsCommandInput): Effect.Effect<void, AwsFailure>
  }
>()("karpenter-effect/cloudprovider/aws/sdk/Ec2") {}

/** Options of the real client. */
export type Options = AwsCall.Options<Pick<Sdk.EC2ClientConfig, "credentials" | "endpoint" | "requestHandler">>

/**
 * EC2's default token bucket for describe calls (100 requests, 20 a second refill); mutating calls have larger
 * buckets, so one limit at the smallest keeps every call inside its bucket.
 */
const defaultRateLimit: AwsCall.RateLimit = { qps: 20, burst: 100 }

/**
 * The SDK makes a fresh idempotency token per request, so repeating a request would launch twice if the first one
 * succeeded unseen (a 5xx, a dropped connection); one token for all attempts makes EC2 answer them alike.
 */
const withClientToken = <I extends { readonly ClientToken?: string | undefined }>(input: I): Effect.Effect<I> =>
  input.ClientToken === undefined
    ? Effect.map(Effect.all(Array.from({ length: 4 }, () => Random.nextIntBetween(0, 2 ** 32))), (parts) => ({
        ...input,
        ClientToken: parts.map((part) => part.toString(16).padStart(8, "0")).join("")
      }))
    : Effect.succeed(input)

/** The real EC2 client for the options' region. */
export const layer = (options: Options): Layer.Layer<Ec2> =>
  Layer.effect(
    Ec2,
    Effect.gen(function* () {
      const sdk = yield* Effect.promise(() => import("@aws-sdk/client-ec2"))
      const client = yield* AwsCall.client(
        () => new sdk.EC2Client({ ...options.sdk, ...AwsCall.clientDefaults(options) })
      )
      const { single, paginated } = AwsCall.make("EC2", options, defaultRateLimit)
      const createFleet = single("CreateFleet", (input: Sdk.CreateFleetCommandInput, abortSignal) =>
        client.send(new sdk.CreateFleetCommand(input), { abortSignal })
      )
      const createLaunchTemplate = single(
        "CreateLaunchTemplate",
        (input: Sdk.CreateLaunchTemplateCommandInput, abortSignal) =>
          client.send(new sdk.CreateLaunchTemplateCommand(input), { abortSignal })
      )
      const createTags = single("CreateTags", (input: Sdk.CreateTagsCommandInput, abortSignal) =>
        client.send(new sdk.CreateTagsCommand(input), { abortSignal })
      )
      return Ec2.of({
        describeInstanceTypes: paginated(
          "DescribeInstanceTypes",
          (input: Sdk.DescribeInstanceTypesCommandInput, abortSignal) =>
            client.send(new sdk.DescribeInstanceTypesCommand(input), { abortSignal }),
          (page) => page.InstanceTypes
        ),
        describeInstanceTypeOfferings: paginated(
          "DescribeInstanceTypeOfferings",
          (input: Sdk.DescribeInstanceTypeOfferingsCommandInput, abortSignal) =>
            client.send(new sdk.DescribeInstanceTypeOfferingsCommand(input), { abortSignal }),
          (page) => page.InstanceTypeOfferings
        ),
        describeSpotPriceHistory: paginated(
          "DescribeSpotPriceHistory",
          (input: Sdk.DescribeSpotPriceHistoryCommandInput, abortSignal) =>
            client.send(new sdk.DescribeSpotPriceHistoryCommand(input), { abortSignal }),
          (page) => page.SpotPriceHistory
        ),
        describeSubnets: paginated(
          "DescribeSubnets",
          (input: Sdk.DescribeSubnetsCommandInput, abortSignal) =>
            client.send(new sdk.DescribeSubnetsCommand(input), { abortSignal }),
          (page) => page.Subnets
        ),
        describeSecurityGroups: paginated(
          "DescribeSecurityGroups",
          (input: Sdk.DescribeSecurityGroupsCommandInput, abortSignal) =>
            client.send(new sdk.DescribeSecurityGroupsCommand(input), { abortSignal }),
          (page) => page.SecurityGroups
        ),
        describeImages: paginated(
          "DescribeImages",
          (input: Sdk.DescribeImagesCommandInput, abortSignal) =>
            client.send(new sdk.DescribeImagesCommand(input), { abortSignal }),
          (page) => page.Images
        ),
        describeLaunchTemplates: paginated(
          "DescribeLaunchTemplates",
          (input: Sdk.DescribeLaunchTemplatesCommandInput, abortSignal) =>
            client.send(new sdk.DescribeLaunchTemplatesCommand(input), { abortSignal }),
          (page) => page.LaunchTemplates
        ),
        describeInstances: paginated(
          "DescribeInstances",
          (input: Sdk.DescribeInstancesCommandInput, abortSignal) =>
            client.send(new sdk.DescribeInstancesCommand(input), { abortSignal }),
          (page) => page.Reservations
        ),
        describeCapacityReservations: paginated(
          "DescribeCapacityReservations",
          (input: Sdk.DescribeCapacityReservationsCommandInput, abortSignal) =>
            client.send(new sdk.DescribeCapacityReservationsCommand(input), { abortSignal }),
          (page) => page.CapacityReservations
        ),
        createFleet: (input) => Effect.flatMap(withClientToken(input), createFleet),
        createLaunchTemplate: (input) => Effect.flatMap(withClientToken(input), createLaunchTemplate),
        deleteLaunchTemplate: single(
          "DeleteLaunchTemplate",
          (input: Sdk.DeleteLaunchTemplateCommandInput, abortSignal) =>
            client.send(new sdk.DeleteLaunchTemplateCommand(input), { abortSignal })
        ),
        terminateInstances: single("TerminateInstances", (input: Sdk.TerminateInstancesCommandInput, abortSignal) =>
          client.send(new sdk.TerminateInstancesCommand(input), { abortSignal })
        ),
        createTags: (input) => Effect.asVoid(createTags(input))
      })
    })
  )
