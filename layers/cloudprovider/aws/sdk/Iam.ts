/**
 * The IAM API calls of the instance-profile provider: the profile Karpenter manages for an EC2NodeClass's `role`.
 * The SDK is loaded when {@link layer} is built, so importing this module costs nothing.
 */
import type * as Sdk from "@aws-sdk/client-iam"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AwsCall from "./AwsCall.ts"
import type { AwsFailure } from "./AwsError.ts"

/** The IAM contract; a missing profile or role is `AwsNotFound` (NoSuchEntity), a taken name `AwsAlreadyExists`. */
export class Iam extends Context.Service<
  Iam,
  {
    getInstanceProfile(
      input: Sdk.GetInstanceProfileCommandInput
    ): Effect.Effect<Sdk.GetInstanceProfileCommandOutput, AwsFailure>
    createInstanceProfile(
      input: Sdk.CreateInstanceProfileCommandInput
    ): Effect.Effect<Sdk.CreateInstanceProfileCommandOutput, AwsFailure>
    addRoleToInstanceProfile(input: Sdk.AddRoleToInstanceProfileCommandInput): Effect.Effect<void, AwsFailure>
    removeRoleFromInstanceProfile(input: Sdk.RemoveRoleFromInstanceProfileCommandInput): Effect.Effect<void, AwsFailure>
    deleteInstanceProfile(input: Sdk.DeleteInstanceProfileCommandInput): Effect.Effect<void, AwsFailure>
    tagInstanceProfile(input: Sdk.TagInstanceProfileCommandInput): Effect.Effect<void, AwsFailure>
  }
>()("karpenter-effect/cloudprovider/aws/sdk/Iam") {}

/** Options of the real client. */
export type Options = AwsCall.Options<Pick<Sdk.IAMClientConfig, "credentials" | "endpoint" | "requestHandler">>

/** IAM is a global service with low account-wide limits; profiles change only with EC2NodeClasses. */
const defaultRateLimit: AwsCall.RateLimit = { qps: 10, burst: 20 }

/** The real IAM client (IAM is global; the region picks the partition's endpoint). */
export const layer = (options: Options): Layer.Layer<Iam> =>
  Layer.effect(
    Iam,
    Effect.gen(function* () {
      const sdk = yield* Effect.promise(() => import("@aws-sdk/client-iam"))
      const client = yield* AwsCall.client(
        () => new sdk.IAMClient({ ...options.sdk, ...AwsCall.clientDefaults(options) })
      )
      const { single } = AwsCall.make("IAM", options, defaultRateLimit)
      const addRoleToInstanceProfile = single(
        "AddRoleToInstanceProfile",
        (input: Sdk.AddRoleToInstanceProfileCommandInput, abortSignal) =>
          client.send(new sdk.AddRoleToInstanceProfileCommand(input), { abortSignal })
      )
      const removeRoleFromInstanceProfile = single(
        "RemoveRoleFromInstanceProfile",
        (input: Sdk.RemoveRoleFromInstanceProfileCommandInput, abortSignal) =>
          client.send(new sdk.RemoveRoleFromInstanceProfileCommand(input), { abortSignal })
      )
      const deleteInstanceProfile = single(
        "DeleteInstanceProfile",
        (input: Sdk.DeleteInstanceProfileCommandInput, abortSignal) =>
          client.send(new sdk.DeleteInstanceProfileCommand(input), { abortSignal })
      )
      const tagInstanceProfile = single(
        "TagInstanceProfile",
        (input: Sdk.TagInstanceProfileCommandInput, abortSignal) =>
          client.send(new sdk.TagInstanceProfileCommand(input), { abortSignal })
      )
      return Iam.of({
        getInstanceProfile: single("GetInstanceProfile", (input: Sdk.GetInstanceProfileCommandInput, abortSignal) =>
          client.send(new sdk.GetInstanceProfileCommand(input), { abortSignal })
        ),
        createInstanceProfile: single(
          "CreateInstanceProfile",
          (input: Sdk.CreateInstanceProfileCommandInput, abortSignal) =>
            client.send(new sdk.CreateInstanceProfileCommand(input), { abortSignal })
        ),
        addRoleToInstanceProfile: (input) => Effect.asVoid(addRoleToInstanceProfile(input)),
        removeRoleFromInstanceProfile: (input) => Effect.asVoid(removeRoleFromInstanceProfile(input)),
        deleteInstanceProfile: (input) => Effect.asVoid(deleteInstanceProfile(input)),
        tagInstanceProfile: (input) => Effect.asVoid(tagInstanceProfile(input))
      })
    })
  )
