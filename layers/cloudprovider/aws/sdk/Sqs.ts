/**
 * The SQS API calls of the interruption controller: the queue's URL from its name, long-polled receives, deletes.
 * The SDK is loaded when {@link layer} is built, so importing this module costs nothing.
 */
import type * as Sdk from "@aws-sdk/client-sqs"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AwsCall from "./AwsCall.ts"
import type { AwsFailure } from "./AwsError.ts"

/** The SQS contract. */
export class Sqs extends Context.Service<
  Sqs,
  {
    /** `AwsNotFound` when no queue has that name. */
    getQueueUrl(input: Sdk.GetQueueUrlCommandInput): Effect.Effect<Sdk.GetQueueUrlCommandOutput, AwsFailure>
    receiveMessage(input: Sdk.ReceiveMessageCommandInput): Effect.Effect<Sdk.ReceiveMessageCommandOutput, AwsFailure>
    deleteMessage(input: Sdk.DeleteMessageCommandInput): Effect.Effect<void, AwsFailure>
  }
>()("karpenter-effect/cloudprovider/aws/sdk/Sqs") {}

/** Options of the real client. */
export type Options = AwsCall.Options<Pick<Sdk.SQSClientConfig, "credentials" | "endpoint" | "requestHandler">>

/** SQS has no practical API rate limit; this only bounds a runaway loop. */
const defaultRateLimit: AwsCall.RateLimit = { qps: 50, burst: 100 }

/** The real SQS client for the options' region. */
export const layer = (options: Options): Layer.Layer<Sqs> =>
  Layer.effect(
    Sqs,
    Effect.gen(function* () {
      const sdk = yield* Effect.promise(() => import("@aws-sdk/client-sqs"))
      const client = yield* AwsCall.client(
        () => new sdk.SQSClient({ ...options.sdk, ...AwsCall.clientDefaults(options) })
      )
      const { single } = AwsCall.make("SQS", options, defaultRateLimit)
      const deleteMessage = single("DeleteMessage", (input: Sdk.DeleteMessageCommandInput, abortSignal) =>
        client.send(new sdk.DeleteMessageCommand(input), { abortSignal })
      )
      return Sqs.of({
        getQueueUrl: single("GetQueueUrl", (input: Sdk.GetQueueUrlCommandInput, abortSignal) =>
          client.send(new sdk.GetQueueUrlCommand(input), { abortSignal })
        ),
        receiveMessage: single("ReceiveMessage", (input: Sdk.ReceiveMessageCommandInput, abortSignal) =>
          client.send(new sdk.ReceiveMessageCommand(input), { abortSignal })
        ),
        deleteMessage: (input) => Effect.asVoid(deleteMessage(input))
      })
    })
  )
