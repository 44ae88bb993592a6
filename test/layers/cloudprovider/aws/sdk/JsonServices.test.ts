import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Iam from "../../../../../layers/cloudprovider/aws/sdk/Iam.ts"
import * as Pricing from "../../../../../layers/cloudprovider/aws/sdk/Pricing.ts"
import * as Sqs from "../../../../../layers/cloudprovider/aws/sdk/Sqs.ts"
import * as Ssm from "../../../../../layers/cloudprovider/aws/sdk/Ssm.ts"
import * as Handler from "./Handler.ts"

const sdkOptions = (answers: ReadonlyArray<Handler.Answer>) => {
  const handler = Handler.make(answers)
  return {
    sent: handler.sent,
    options: { credentials: Handler.credentials, requestHandler: handler.requestHandler }
  }
}

const md5 = (text: string): string => createHash("md5").update(text).digest("hex")

const messageBody = '{"source":"aws.ec2"}'

const json = (sent: Handler.Sent | undefined): unknown => JSON.parse(sent?.body ?? "null")

describe("Ssm, Sqs, Iam and Pricing over the real SDK clients", () => {
  it.effect(
    "SSM GetParameter: a JSON request with its target, the parameter decoded; ParameterNotFound is AwsNotFound",
    () => {
      const name = "/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/x86_64/standard/recommended/image_id"
      const ssm = sdkOptions([
        {
          status: 200,
          body: JSON.stringify({ Parameter: { Name: name, Type: "String", Value: "ami-0123", Version: 7 } })
        },
        { status: 400, body: JSON.stringify({ __type: "ParameterNotFound", message: "Parameter not found." }) }
      ])
      return Effect.gen(function* () {
        const service = yield* Ssm.Ssm
        const found = yield* service.getParameter({ Name: name })
        assert.strictEqual(found.Parameter?.Value, "ami-0123")
        assert.strictEqual(found.Parameter?.Version, 7)
        assert.strictEqual(ssm.sent[0]?.hostname, "ssm.eu-west-1.amazonaws.com")
        assert.strictEqual(ssm.sent[0]?.headers["x-amz-target"], "AmazonSSM.GetParameter")
        assert.deepStrictEqual(json(ssm.sent[0]), { Name: name })

        const error = yield* service.getParameter({ Name: "/missing" }).pipe(Effect.flip)
        assert.deepStrictEqual(
          [error._tag, error.code, error.message],
          ["AwsNotFound", "ParameterNotFound", "Parameter not found."]
        )
        assert.strictEqual(ssm.sent.length, 2)
      }).pipe(Effect.provide(Ssm.layer({ region: "eu-west-1", sdk: ssm.options })))
    }
  )

  it.effect("SQS: GetQueueUrl and ReceiveMessage as JSON; a missing queue (JSON __type) is AwsNotFound", () => {
    const sqs = sdkOptions([
      { status: 200, body: JSON.stringify({ QueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/karpenter" }) },
      {
        status: 200,
        body: JSON.stringify({
          // SQS's digest of the body, which the SDK verifies.
          Messages: [{ MessageId: "m-1", ReceiptHandle: "rh-1", Body: messageBody, MD5OfBody: md5(messageBody) }]
        })
      },
      {
        status: 400,
        headers: { "x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender" },
        body: JSON.stringify({
          __type: "com.amazonaws.sqs#QueueDoesNotExist",
          message: "The specified queue does not exist."
        })
      }
    ])
    return Effect.gen(function* () {
      const service = yield* Sqs.Sqs
      const url = yield* service.getQueueUrl({ QueueName: "karpenter" })
      assert.strictEqual(url.QueueUrl, "https://sqs.us-east-1.amazonaws.com/123456789012/karpenter")
      assert.strictEqual(sqs.sent[0]?.headers["x-amz-target"], "AmazonSQS.GetQueueUrl")
      assert.deepStrictEqual(json(sqs.sent[0]), { QueueName: "karpenter" })

      const received = yield* service.receiveMessage({
        QueueUrl: url.QueueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 20,
        WaitTimeSeconds: 20
      })
      assert.deepStrictEqual(
        received.Messages?.map((message) => [message.ReceiptHandle, message.Body]),
        [["rh-1", '{"source":"aws.ec2"}']]
      )
      assert.strictEqual(sqs.sent[1]?.headers["x-amz-target"], "AmazonSQS.ReceiveMessage")
      assert.deepStrictEqual(json(sqs.sent[1]), {
        QueueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/karpenter",
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 20,
        WaitTimeSeconds: 20
      })

      const error = yield* service
        .deleteMessage({ QueueUrl: "https://sqs/missing", ReceiptHandle: "rh-1" })
        .pipe(Effect.flip)
      assert.strictEqual(error._tag, "AwsNotFound")
      assert.strictEqual(error.message, "The specified queue does not exist.")
      assert.strictEqual(error.operation, "DeleteMessage")
    }).pipe(Effect.provide(Sqs.layer({ region: "us-east-1", sdk: sqs.options })))
  })

  it.effect("IAM: a query request; NoSuchEntity and EntityAlreadyExists (XML) map to their tags", () => {
    const iamError = (code: string, message: string) =>
      `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>req-iam</RequestId></ErrorResponse>`
    const iam = sdkOptions([
      { status: 404, body: iamError("NoSuchEntity", "Instance Profile p cannot be found.") },
      { status: 409, body: iamError("EntityAlreadyExists", "Instance Profile p already exists.") }
    ])
    return Effect.gen(function* () {
      const service = yield* Iam.Iam
      const missing = yield* service.getInstanceProfile({ InstanceProfileName: "p" }).pipe(Effect.flip)
      assert.deepStrictEqual(
        [missing._tag, missing.code, missing.requestId],
        ["AwsNotFound", "NoSuchEntity", "req-iam"]
      )
      assert.strictEqual(Handler.form(iam.sent[0]!).Action, "GetInstanceProfile")
      assert.strictEqual(Handler.form(iam.sent[0]!).InstanceProfileName, "p")

      const taken = yield* service
        .createInstanceProfile({ InstanceProfileName: "p", Path: "/karpenter/", Tags: [{ Key: "k", Value: "v" }] })
        .pipe(Effect.flip)
      assert.strictEqual(taken._tag, "AwsAlreadyExists")
      const create = Handler.form(iam.sent[1]!)
      assert.deepStrictEqual(
        [create.Action, create.Path, create["Tags.member.1.Key"]],
        ["CreateInstanceProfile", "/karpenter/", "k"]
      )
    }).pipe(Effect.provide(Iam.layer({ region: "us-west-2", sdk: iam.options })))
  })

  it.effect("Pricing GetProducts: every page, through the endpoint region upstream picks", () => {
    const pricing = sdkOptions([
      { status: 200, body: JSON.stringify({ PriceList: ['{"product":"m5.large"}'], NextToken: "t-2" }) },
      { status: 200, body: JSON.stringify({ PriceList: ['{"product":"c5.large"}'] }) }
    ])
    return Effect.gen(function* () {
      const service = yield* Pricing.Pricing
      const products = yield* service.getProducts({
        ServiceCode: "AmazonEC2",
        Filters: [{ Field: "regionCode", Type: "TERM_MATCH", Value: "eu-west-3" }]
      })
      assert.deepStrictEqual(products, ['{"product":"m5.large"}', '{"product":"c5.large"}'])
      assert.strictEqual(pricing.sent[0]?.hostname, "api.pricing.eu-central-1.amazonaws.com")
      assert.strictEqual(pricing.sent[0]?.headers["x-amz-target"], "AWSPriceListService.GetProducts")
      assert.deepStrictEqual(json(pricing.sent[0]), {
        ServiceCode: "AmazonEC2",
        Filters: [{ Field: "regionCode", Type: "TERM_MATCH", Value: "eu-west-3" }]
      })
      assert.deepStrictEqual(json(pricing.sent[1]), {
        ServiceCode: "AmazonEC2",
        Filters: [{ Field: "regionCode", Type: "TERM_MATCH", Value: "eu-west-3" }],
        NextToken: "t-2"
      })
    }).pipe(Effect.provide(Pricing.layer({ region: "eu-west-3", sdk: pricing.options })))
  })

  it("Pricing's endpoint region follows upstream's prefixes", () => {
    assert.deepStrictEqual(
      ["ap-northeast-1", "cn-north-1", "eu-west-1", "us-west-2", "sa-east-1"].map(Pricing.endpointRegion),
      ["ap-south-1", "cn-northwest-1", "eu-central-1", "us-east-1", "us-east-1"]
    )
  })
})
