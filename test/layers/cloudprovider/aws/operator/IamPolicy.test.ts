/**
 * manifests/aws/iam-policy.json grants exactly what the AWS provider calls (issue #14): one provisioning, drift and
 * interruption run of the provider and its controllers on FakeAws records every AWS call, each must be granted; the
 * policy has no wildcard action, and every action in it is a call some AWS module makes (the fake's operation table,
 * which serves every call) or one EC2 authorizes on such a call, so the file cannot rot.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../../../../../layers/cloudprovider/aws/fake/FakeKubelet.ts"
import * as AwsOperator from "../../../../../layers/cloudprovider/aws/operator/AwsOperator.ts"
import * as MemoryKube from "../../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Ec2Dataset from "../../../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as DisruptionConditions from "../../../../../src/controllers/nodeclaim/disruption/DisruptionConditions.ts"
import { EventRecorder } from "../../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import * as Options from "../../../../../src/operator/Options.ts"
import * as InformerCache from "../../../../../src/runtime/InformerCache.ts"
import * as S from "../../../../controllers/support.ts"
import { readDataJson, root } from "../../../../fixtures.ts"
import * as Messages from "../controllers/InterruptionMessages.ts"
import { nodeClassObject, nodeClassRef } from "../support.ts"

interface Statement {
  readonly Sid: string
  readonly Action: string | ReadonlyArray<string>
  readonly Resource: string | ReadonlyArray<string>
}

const policy = JSON.parse(readFileSync(join(root, "manifests/aws/iam-policy.json"), "utf8")) as {
  readonly Statement: ReadonlyArray<Statement>
}
const granted = new Set(policy.Statement.flatMap((statement) => [statement.Action].flat()))

/** An IAM action of a call the fake recorded: `ec2:CreateFleet`, `sqs:ReceiveMessage`. */
const actionOf = (call: Pick<FakeAws.Call, "service" | "operation">) =>
  `${call.service.toLowerCase()}:${call.operation}`

const dataset = Schema.decodeUnknownSync(Ec2Dataset.Dataset)(readDataJson("aws-instance-types.json")).filter((record) =>
  /^(m5|c5)\./.test(record.name)
)

const environment: AwsOperator.Environment = {
  settings: {
    ...Options.defaults.aws,
    clusterName: "test-cluster",
    clusterEndpoint: "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com",
    clusterCIDR: "10.100.0.0/16",
    interruptionQueue: "karpenter-interruption"
  },
  region: "us-west-2",
  kubernetesVersion: "1.32",
  caBundle: "Y2EtYnVuZGxl",
  kubeDnsIp: "10.100.0.10",
  dataset
}

/** The provider as `controller --cloud-provider aws` wires it, on FakeAws and the in-memory API. */
const TestLayer = AwsOperator.providerLayer(environment).pipe(
  Layer.provideMerge(FakeAws.layer({ instanceTypes: dataset })),
  Layer.provideMerge(InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer()))),
  Layer.provideMerge(EventRecorder.layerMemory([]))
)

describe("the controller's IAM policy", S.controllerSuite, () => {
  it("has no wildcard action and only actions some AWS module calls", () => {
    const served = new Set(
      Object.entries(FakeAws.operations).map(([operation, service]) => actionOf({ service, operation } as FakeAws.Call))
    )
    for (const action of granted) {
      assert.notInclude(action, "*", `${action} is a wildcard`)
      assert.isTrue(
        served.has(action) || action in AwsOperator.impliedActions,
        `${action} is granted but no AWS module calls it`
      )
    }
    // The other controllers' calls (hash, tagging, instance GC, pricing) are granted too.
    for (const action of [
      "ec2:CreateTags",
      "ec2:DescribeInstances",
      "ec2:TerminateInstances",
      "pricing:GetProducts",
      "ec2:DescribeSpotPriceHistory"
    ]) {
      assert.isTrue(granted.has(action), action)
    }
  })

  it.effect("grants every call of a provisioning, AMI change and interruption run", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const fake = yield* FakeAws.FakeAws
      yield* kube.create(Resources.EC2NodeClasses, nodeClassObject() as never)
      yield* S.createNodePool(S.nodePool("default", { nodeClassRef }))
      yield* S.createPendingPod(S.pod("a", { cpu: "1", memory: "2Gi" }))
      yield* Layer.build(
        Layer.mergeAll(
          S.karpenter(),
          S.controlPlane,
          Layer.effectDiscard(DisruptionConditions.make),
          AwsOperator.controllersLayer(environment),
          FakeKubelet.layer()
        )
      )
      yield* S.advance(2_000 + Duration.toMillis(FakeKubelet.defaultBootTime), 1_000)
      const [launched] = yield* S.listNodeClaims
      const instanceId = launched?.status?.providerID?.split("/").at(-1) ?? ""
      assert.match(instanceId, /^i-/)

      // The NodeClass moves to another AMI.
      const image = yield* fake.registerImage({
        Name: "custom-al2023-x86_64",
        Architecture: "x86_64",
        CreationDate: "2025-05-01T00:00:00.000Z"
      })
      yield* kube.patch(Resources.EC2NodeClasses, "default", {
        type: "merge",
        patch: { spec: { amiFamily: "AL2023", amiSelectorTerms: [{ id: image }] } }
      })
      // The AMI change is resolved into the status (the drift check's input).
      yield* S.advance(30_000, 1_000)
      const nodeClass = yield* kube.get(Resources.EC2NodeClasses, "default")
      assert.deepStrictEqual(
        nodeClass.status?.amis?.map((ami) => ami.id),
        [image]
      )

      // ...which drifts the NodeClaim (its instance runs the old image).
      const [drifted] = yield* S.listNodeClaims
      assert.strictEqual(S.conditionOf(drifted?.status?.conditions, "Drifted")?.status, "True")

      // A spot interruption warning for the instance deletes its NodeClaim, which terminates it.
      yield* fake.sendMessage(Messages.spotInterruption(instanceId, yield* Clock.currentTimeMillis))
      yield* S.advance(30_000, 1_000)

      const recorded = new Set((yield* fake.calls).map(actionOf))
      for (const action of [
        "ec2:CreateFleet",
        "ec2:DescribeImages",
        "ssm:GetParameter",
        "iam:CreateInstanceProfile",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "ec2:TerminateInstances"
      ]) {
        assert.isTrue(recorded.has(action), `the run called ${action}`)
      }
      assert.deepStrictEqual(
        [...recorded].filter((action) => !granted.has(action)).sort(),
        [],
        "calls the policy does not grant"
      )
    }).pipe(Effect.provide(TestLayer))
  )
})
