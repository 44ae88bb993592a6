/**
 * The SSM API calls the AWS provider makes: GetParameter resolves AMI aliases (`/aws/service/eks/optimized-ami/…`).
 * The SDK is loaded when {@link layer} is built, so importing this module costs nothing.
 */
import type * as Sdk from "@aws-sdk/client-ssm"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AwsCall from "./AwsCall.ts"
import type { AwsFailure } from "./AwsError.ts"

/** The SSM contract. */
export class Ssm extends Context.Service<
  Ssm,
  {
    /** `AwsNotFound` (ParameterNotFound) when the path has no parameter. */
    getParameter(input: Sdk.GetParameterCommandInput): Effect.Effect<Sdk.GetParameterCommandOutput, AwsFailure>
  }
>()("karpenter-effect/cloudprovider/aws/sdk/Ssm") {}

/** Options of the real client. */
export type Options = AwsCall.Options<Pick<Sdk.SSMClientConfig, "credentials" | "endpoint" | "requestHandler">>

/** SSM's default GetParameter throughput is 40 requests a second. */
const defaultRateLimit: AwsCall.RateLimit = { qps: 40, burst: 40 }

/** The real SSM client for the options' region. */
export const layer = (options: Options): Layer.Layer<Ssm> =>
  Layer.effect(
    Ssm,
    Effect.gen(function* () {
      const sdk = yield* Effect.promise(() => import("@aws-sdk/client-ssm"))
      const client = yield* AwsCall.client(
        () => new sdk.SSMClient({ ...options.sdk, ...AwsCall.clientDefaults(options) })
      )
      const { single } = AwsCall.make("SSM", options, defaultRateLimit)
      return Ssm.of({
        getParameter: single("GetParameter", (input: Sdk.GetParameterCommandInput, abortSignal) =>
          client.send(new sdk.GetParameterCommand(input), { abortSignal })
        )
      })
    })
  )
