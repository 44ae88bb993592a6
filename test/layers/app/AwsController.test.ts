/**
 * `controller --cloud-provider aws` through the command line (issue #14): its settings are validated as upstream's
 * `Options.Validate` (one line, InvalidInput: exit code 2 in bin.ts), and a valid command runs the AWS provider's
 * controllers under the operator's Manager against the embedded API server over HTTP, with FakeAws in place of the
 * SDK clients.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import * as ControllerApp from "../../../layers/app/ControllerApp.ts"
import * as FakeAws from "../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import type * as AwsOperator from "../../../layers/cloudprovider/aws/operator/AwsOperator.ts"
import * as MemoryKube from "../../../layers/kube/memory/MemoryKubeClient.ts"
import * as Ec2Dataset from "../../../src/cloudprovider/aws/Ec2Dataset.ts"
import * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import * as Conditions from "../../../src/controllers/StatusConditions.ts"
import { KubeClient } from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import * as Cli from "../../../src/operator/Cli.ts"
import { readDataJson } from "../../fixtures.ts"
import { nodeClassObject } from "../cloudprovider/aws/support.ts"
import * as Stub from "../kube/live/Stub.ts"

const dataset = Schema.decodeUnknownSync(Ec2Dataset.Dataset)(readDataJson("aws-instance-types.json")).filter((record) =>
  /^m5\./.test(record.name)
)

/** The command line as bin.ts runs it, with AWS's services swapped for `awsServices`. */
const cli = (awsServices: Layer.Layer<AwsOperator.AwsServices> | undefined, env = {}) =>
  Cli.run({
    simulation: () => Layer.empty as never,
    cluster: () => Layer.empty as never,
    controller: (options) => ControllerApp.run(options, awsServices === undefined ? {} : { awsServices }),
    dev: () => Effect.void,
    env: { LOG_LEVEL: "error", ...env }
  })

describe("controller --cloud-provider aws", () => {
  it.effect("bad AWS settings are one line, as upstream's validation words them, before anything connects", () =>
    Effect.gen(function* () {
      for (const [args, message] of [
        [
          ["--cloud-provider", "aws"],
          "validating options, missing field, cluster-endpoint (discovery through EKS DescribeCluster is not supported yet); missing field, cluster-name; missing field, cluster-cidr (discovery through EKS DescribeCluster is not supported yet)"
        ],
        [
          [
            "--cloud-provider=aws",
            "--cluster-name=test",
            "--cluster-endpoint=not a url",
            "--cluster-cidr=10.100.0.0/16",
            "--vm-memory-overhead-percent=-0.1",
            "--reserved-enis=-1"
          ],
          'validating options, "not a url" is not a valid cluster-endpoint URL; vm-memory-overhead-percent cannot be negative; reserved-enis cannot be negative'
        ],
        [["--cloud-provider", "gce"], 'invalid value "gce" for flag --cloud-provider: expected one of kwok, aws'],
        [["--reserved-enis", "two"], 'invalid value "two" for flag --reserved-enis: expected an integer']
      ] as const) {
        const error = yield* Effect.flip(cli(undefined)(["controller", ...args]))
        assert.strictEqual(error._tag, "InvalidInput")
        assert.strictEqual(error.message, message)
      }
      // The settings come from upstream's variables as well.
      const fromEnv = yield* Effect.flip(
        cli(undefined, { CLOUD_PROVIDER: "aws", CLUSTER_NAME: "test", CLUSTER_CIDR: "10.100.0.0/16" })(["controller"])
      )
      assert.strictEqual(
        fromEnv.message,
        "validating options, missing field, cluster-endpoint (discovery through EKS DescribeCluster is not supported yet)"
      )
    }).pipe(Effect.provide(NodeServices.layer))
  )

  it.live(
    "runs the NodeClass status and interruption controllers on FakeAws under the operator's Manager",
    () =>
      Effect.gen(function* () {
        const memory = yield* Layer.build(MemoryKube.layer())
        const backend = Context.get(memory, KubeClient)
        const served = yield* HttpApi.serve().pipe(Effect.provideService(KubeClient, backend))
        const kubeconfig = join(mkdtempSync(join(tmpdir(), "aws-controller-")), "kubeconfig")
        writeFileSync(
          kubeconfig,
          JSON.stringify({
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "embedded", cluster: { server: served.url, "insecure-skip-tls-verify": true } }],
            users: [{ name: "user", user: {} }],
            contexts: [{ name: "embedded", context: { cluster: "embedded", user: "user" } }],
            "current-context": "embedded"
          })
        )
        yield* backend.create(Resources.EC2NodeClasses, nodeClassObject() as never)

        const fake = yield* Layer.build(FakeAws.layer({ instanceTypes: dataset }))
        const aws = Context.get(fake, FakeAws.FakeAws)
        const controller = yield* Effect.forkChild(
          cli(Layer.succeedContext(fake))([
            "controller",
            "--cloud-provider",
            "aws",
            "--cluster-name",
            "test-cluster",
            "--cluster-endpoint",
            "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com",
            "--cluster-cidr",
            "10.100.0.0/16",
            "--aws-region",
            "us-west-2",
            "--interruption-queue",
            "karpenter-interruption",
            "--disable-leader-election",
            "--metrics-port",
            "0",
            "--health-probe-port",
            "0",
            "--kubeconfig",
            kubeconfig
          ])
        )

        // A controller that stops fails the test with its error rather than a timeout.
        const running = <A, E>(check: Effect.Effect<A, E>) =>
          Effect.raceFirst(
            check,
            Effect.flatMap(Fiber.join(controller), () => Effect.fail(new Error("the controller stopped")))
          )
        // The status controller resolved the NodeClass on EC2, SSM (the alias, at the API server's 1.32) and IAM.
        yield* running(
          Stub.eventually(
            Effect.map(backend.get(Resources.EC2NodeClasses, "default"), (nodeClass) =>
              Conditions.isTrue(nodeClass.status?.conditions, Conditions.Ready)
            ).pipe(Effect.orElseSucceed(() => false))
          )
        )
        const nodeClass = yield* backend.get(Resources.EC2NodeClasses, "default")
        assert.include(nodeClass.status?.instanceProfile ?? "", "test-cluster_")
        // The interruption controller polls the queue it was named.
        yield* running(
          Stub.eventually(Effect.map(aws.calls, (calls) => calls.some((call) => call.operation === "ReceiveMessage")))
        )
        const calls = yield* aws.calls
        assert.deepInclude(calls.find((call) => call.operation === "GetQueueUrl")?.input as object, {
          QueueName: "karpenter-interruption"
        })
        assert.isTrue(
          calls.some(
            (call) =>
              call.operation === "GetParameter" &&
              String((call.input as { Name?: string }).Name).includes("/optimized-ami/1.32/amazon-linux-2023/")
          )
        )
        yield* Fiber.interrupt(controller)
      }).pipe(Effect.provide(NodeServices.layer), Effect.provideService(References.MinimumLogLevel, "Warn")),
    { timeout: 30_000 }
  )
})
