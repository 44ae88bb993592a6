import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as Ec2 from "../../../../../layers/cloudprovider/aws/sdk/Ec2.ts"
import * as Handler from "./Handler.ts"

const xmlns = `xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"`

const withEc2 = (answers: ReadonlyArray<Handler.Answer>, retries = 2) => {
  const handler = Handler.make(answers)
  const layer = Ec2.layer({
    region: "us-west-2",
    retry: { retries, baseMillis: 100, maxMillis: 1_000 },
    sdk: { credentials: Handler.credentials, requestHandler: handler.requestHandler }
  })
  return { sent: handler.sent, run: <A, E>(effect: Effect.Effect<A, E, Ec2.Ec2>) => Effect.provide(effect, layer) }
}

/** Runs `effect` in a fiber, advancing the TestClock (and letting the SDK's promises settle) until it is done. */
const withVirtualTime = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(effect)
    while (fiber.pollUnsafe() === undefined) {
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust("1 second")
    }
    return yield* Fiber.join(fiber)
  })

const reservations = (ids: ReadonlyArray<string>, nextToken?: string) =>
  `<DescribeInstancesResponse ${xmlns}><requestId>req-1</requestId><reservationSet><item><reservationId>r-1</reservationId><instancesSet>${ids
    .map(
      (id) =>
        `<item><instanceId>${id}</instanceId><instanceType>m5.large</instanceType><instanceState><code>16</code><name>running</name></instanceState><placement><availabilityZone>us-west-2a</availabilityZone></placement><spotInstanceRequestId>sir-1</spotInstanceRequestId></item>`
    )
    .join(
      ""
    )}</instancesSet></item></reservationSet>${nextToken === undefined ? "" : `<nextToken>${nextToken}</nextToken>`}</DescribeInstancesResponse>`

describe("Ec2 over the real SDK client", () => {
  it.effect("DescribeInstances: builds the query request, follows nextToken and decodes every page", () => {
    const ec2 = withEc2([
      { status: 200, body: reservations(["i-0001"], "page-2") },
      { status: 200, body: reservations(["i-0002"]) }
    ])
    return Effect.gen(function* () {
      const service = yield* Ec2.Ec2
      const found = yield* service.describeInstances({
        Filters: [{ Name: "instance-state-name", Values: ["pending", "running"] }]
      })
      assert.deepStrictEqual(
        found.flatMap((reservation) => reservation.Instances ?? []).map((instance) => instance.InstanceId),
        ["i-0001", "i-0002"]
      )
      const first = found[0]?.Instances?.[0]
      assert.strictEqual(first?.State?.Name, "running")
      assert.strictEqual(first?.Placement?.AvailabilityZone, "us-west-2a")
      assert.strictEqual(first?.SpotInstanceRequestId, "sir-1")

      assert.strictEqual(ec2.sent.length, 2)
      const [page1, page2] = ec2.sent.map(Handler.form)
      assert.strictEqual(ec2.sent[0]?.method, "POST")
      assert.strictEqual(ec2.sent[0]?.hostname, "ec2.us-west-2.amazonaws.com")
      assert.match(ec2.sent[0]?.headers.authorization ?? "", /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//)
      assert.strictEqual(page1?.Action, "DescribeInstances")
      assert.strictEqual(page1?.["Filter.1.Name"], "instance-state-name")
      assert.strictEqual(page1?.["Filter.1.Value.2"], "running")
      assert.isUndefined(page1?.NextToken)
      assert.strictEqual(page2?.NextToken, "page-2")
    }).pipe(ec2.run)
  })

  it.effect("CreateFleet: decodes instances and per-override errors from the answer", () => {
    const ec2 = withEc2([
      {
        status: 200,
        body: `<CreateFleetResponse ${xmlns}><requestId>req-2</requestId><fleetId>fleet-1</fleetId><errorSet><item><errorCode>InsufficientInstanceCapacity</errorCode><errorMessage>no capacity</errorMessage><launchTemplateAndOverrides><overrides><instanceType>m5.large</instanceType><availabilityZone>us-west-2a</availabilityZone></overrides></launchTemplateAndOverrides><lifecycle>spot</lifecycle></item></errorSet><fleetInstanceSet><item><instanceIds><item>i-0abc</item></instanceIds><instanceType>m5.xlarge</instanceType><lifecycle>spot</lifecycle></item></fleetInstanceSet></CreateFleetResponse>`
      }
    ])
    return Effect.gen(function* () {
      const service = yield* Ec2.Ec2
      const result = yield* service.createFleet({
        Type: "instant",
        LaunchTemplateConfigs: [
          {
            LaunchTemplateSpecification: { LaunchTemplateName: "karpenter.k8s.aws/123", Version: "$Latest" },
            Overrides: [{ InstanceType: "m5.large", SubnetId: "subnet-1", AvailabilityZone: "us-west-2a" }]
          }
        ],
        TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: "spot" },
        SpotOptions: { AllocationStrategy: "price-capacity-optimized" }
      })
      assert.strictEqual(result.FleetId, "fleet-1")
      assert.deepStrictEqual(result.Instances?.[0]?.InstanceIds, ["i-0abc"])
      assert.strictEqual(result.Errors?.[0]?.ErrorCode, "InsufficientInstanceCapacity")
      assert.strictEqual(result.Errors?.[0]?.LaunchTemplateAndOverrides?.Overrides?.AvailabilityZone, "us-west-2a")

      const request = Handler.form(ec2.sent[0]!)
      assert.strictEqual(request.Action, "CreateFleet")
      assert.strictEqual(request.Type, "instant")
      assert.strictEqual(
        request["LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateName"],
        "karpenter.k8s.aws/123"
      )
      assert.strictEqual(request["LaunchTemplateConfigs.1.Overrides.1.SubnetId"], "subnet-1")
      assert.strictEqual(request["TargetCapacitySpecification.DefaultTargetCapacityType"], "spot")
      assert.strictEqual(request["SpotOptions.AllocationStrategy"], "price-capacity-optimized")
    }).pipe(ec2.run)
  })

  it.effect("an EC2 error document maps to its tagged error, and capacity errors (HTTP 500) are not retried", () => {
    const ec2 = withEc2([
      {
        status: 500,
        body: Handler.ec2Error("InsufficientInstanceCapacity", "We currently do not have sufficient m5.large capacity")
      }
    ])
    return Effect.gen(function* () {
      const service = yield* Ec2.Ec2
      const error = yield* service.terminateInstances({ InstanceIds: ["i-1"] }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "AwsInsufficientCapacity")
      assert.strictEqual(error.code, "InsufficientInstanceCapacity")
      assert.strictEqual(error.message, "We currently do not have sufficient m5.large capacity")
      assert.strictEqual(error.operation, "TerminateInstances")
      assert.strictEqual(error.statusCode, 500)
      assert.strictEqual(ec2.sent.length, 1)
    }).pipe(ec2.run)
  })

  it.effect("NotFound and authorization codes map to their tags; other codes are AwsError with code and message", () =>
    Effect.gen(function* () {
      const cases = [
        ["InvalidLaunchTemplateName.NotFoundException", 400, "AwsNotFound"],
        ["InvalidInstanceID.NotFound", 400, "AwsNotFound"],
        ["UnauthorizedOperation", 403, "AwsUnauthorized"],
        ["InvalidParameterValue", 400, "AwsError"]
      ] as const
      for (const [code, status, tag] of cases) {
        const ec2 = withEc2([{ status, body: Handler.ec2Error(code, `${code} happened`) }])
        const error = yield* Ec2.Ec2.use((service) =>
          service.describeLaunchTemplates({ LaunchTemplateNames: ["karpenter.k8s.aws/x"] })
        ).pipe(ec2.run, Effect.flip)
        assert.deepStrictEqual([error._tag, error.code, error.message], [tag, code, `${code} happened`])
        assert.strictEqual(ec2.sent.length, 1)
      }
    })
  )

  it.effect("throttling is retried with backoff on the Effect clock, then succeeds", () => {
    const ec2 = withEc2([
      { status: 503, body: Handler.ec2Error("RequestLimitExceeded", "Request limit exceeded.") },
      { status: 503, body: Handler.ec2Error("RequestLimitExceeded", "Request limit exceeded.") },
      { status: 200, body: reservations(["i-0003"]) }
    ])
    return Effect.gen(function* () {
      const service = yield* Ec2.Ec2
      const found = yield* withVirtualTime(service.describeInstances({ InstanceIds: ["i-0003"] }))
      assert.strictEqual(found[0]?.Instances?.[0]?.InstanceId, "i-0003")
      assert.strictEqual(ec2.sent.length, 3)
    }).pipe(ec2.run)
  })

  it.effect("the retries stop at the policy's count (the SDK client itself never retries)", () => {
    const throttled = { status: 503, body: Handler.ec2Error("RequestLimitExceeded", "Request limit exceeded.") }
    const ec2 = withEc2([throttled], 1)
    return Effect.gen(function* () {
      const service = yield* Ec2.Ec2
      const error = yield* withVirtualTime(service.createTags({ Resources: ["i-1"], Tags: [] }).pipe(Effect.flip))
      assert.strictEqual(error._tag, "AwsThrottled")
      assert.strictEqual(error.code, "RequestLimitExceeded")
      assert.strictEqual(ec2.sent.length, 2)
    }).pipe(ec2.run)
  })

  it.effect("a server error on CreateFleet is retried with the same client token, so it cannot launch twice", () => {
    const ec2 = withEc2([
      { status: 500, body: Handler.ec2Error("InternalError", "An internal error has occurred") },
      {
        status: 200,
        body: `<CreateFleetResponse ${xmlns}><requestId>req-3</requestId><fleetId>fleet-2</fleetId></CreateFleetResponse>`
      }
    ])
    return Effect.gen(function* () {
      const service = yield* Ec2.Ec2
      const result = yield* withVirtualTime(
        service.createFleet({
          Type: "instant",
          LaunchTemplateConfigs: [],
          TargetCapacitySpecification: { TotalTargetCapacity: 1 }
        })
      )
      assert.strictEqual(result.FleetId, "fleet-2")
      const tokens = ec2.sent.map((request) => Handler.form(request).ClientToken)
      assert.strictEqual(tokens.length, 2)
      assert.isString(tokens[0])
      assert.strictEqual(tokens[1], tokens[0])
    }).pipe(ec2.run)
  })
})
