import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as NodeClassStatus from "../../../../../layers/cloudprovider/aws/controllers/NodeClassStatus.ts"
import * as FakeAws from "../../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as CapacityReservations from "../../../../../layers/cloudprovider/aws/providers/CapacityReservations.ts"
import { Ec2 } from "../../../../../layers/cloudprovider/aws/sdk/Ec2.ts"
import { Iam } from "../../../../../layers/cloudprovider/aws/sdk/Iam.ts"
import * as MemoryKube from "../../../../../layers/kube/memory/MemoryKubeClient.ts"
import * as ConditionTypes from "../../../../../src/api/Conditions.ts"
import * as EC2NodeClass from "../../../../../src/api/EC2NodeClass.ts"
import * as Readiness from "../../../../../src/controllers/nodepool/readiness/Readiness.ts"
import { type Event, EventRecorder } from "../../../../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../../src/kube/Resources.ts"
import * as InformerCache from "../../../../../src/runtime/InformerCache.ts"
import { cloudProvider, conditionOf, createNodePool, nodePool } from "../../../../controllers/nodepool/support.ts"
import { controllerSuite, nodeClaim } from "../../../../controllers/support.ts"
import { settle } from "../../../../support/Settle.ts"
import { nodeClassObject } from "../support.ts"

const settings: NodeClassStatus.Settings = {
  clusterName: "test-cluster",
  region: "us-west-2",
  kubernetesVersion: "1.32"
}

const ec2NodeClassKind = { group: EC2NodeClass.group, kind: EC2NodeClass.kind } as const

const run = <A, E, R>(body: Effect.Effect<A, E, R>, events: Array<Event> = []) =>
  Effect.provide(
    body,
    Layer.mergeAll(
      InformerCache.layer.pipe(Layer.provideMerge(MemoryKube.layer())),
      FakeAws.layer({ instanceTypes: [] }),
      CapacityReservations.layer,
      cloudProvider({ supportedNodeClasses: [ec2NodeClassKind] }),
      EventRecorder.layerMemory(events)
    )
  )

const createNodeClass = (object: ReturnType<typeof nodeClassObject>) =>
  Effect.flatMap(Effect.service(KubeClient), (kube) => kube.create(Resources.EC2NodeClasses, object as never))

const stored = Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.EC2NodeClasses, "default"))

const statuses = (conditions: ReadonlyArray<{ type: string; status: string }> | undefined) =>
  Object.fromEntries((conditions ?? []).map((condition) => [condition.type, condition.status]))

const recommended = (arch: string, variant: string) =>
  `/aws/service/eks/optimized-ami/1.32/amazon-linux-2023/${arch}/${variant}/recommended/image_id`

const parameter = (name: string) =>
  Effect.flatMap(FakeAws.FakeAws, (fake) =>
    Effect.map(fake.ssm.getParameter({ Name: name }), (output) => output.Parameter?.Value)
  )

describe("nodeclass status (EC2NodeClass)", () => {
  it.effect("resolves subnets, security groups, al2023@latest AMIs and a managed instance profile: Ready", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(nodeClassObject())
        yield* NodeClassStatus.make(settings)
        yield* settle
        const status = (yield* stored).status

        const subnets = yield* (yield* Ec2).describeSubnets({})
        assert.deepStrictEqual(
          status?.subnets,
          // Equal address counts: by id.
          subnets.map((subnet) => ({
            id: subnet.SubnetId ?? "",
            zone: subnet.AvailabilityZone ?? "",
            zoneID: subnet.AvailabilityZoneId ?? ""
          }))
        )
        assert.deepStrictEqual(
          status?.subnets?.map((subnet) => subnet.zone),
          ["us-west-2a", "us-west-2b", "us-west-2c"]
        )
        const [group] = yield* (yield* Ec2).describeSecurityGroups({})
        assert.deepStrictEqual(status?.securityGroups, [{ id: group?.GroupId ?? "", name: "test-cluster-node" }])

        // One AMI per architecture and variant, the SSM `recommended` release, with the variant's requirements.
        const amd64Standard = status?.amis?.find(
          (ami) => ami.name === "amazon-eks-node-al2023-x86_64-standard-1.32-v20250301"
        )
        assert.strictEqual(amd64Standard?.id, yield* parameter(recommended("x86_64", "standard")))
        assert.deepStrictEqual(amd64Standard?.requirements, [
          { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
          { key: "karpenter.k8s.aws/instance-gpu-count", operator: "DoesNotExist" },
          { key: "karpenter.k8s.aws/instance-accelerator-count", operator: "DoesNotExist" }
        ])
        const arm64Nvidia = status?.amis?.find(
          (ami) => ami.name === "amazon-eks-node-al2023-arm64-nvidia-1.32-v20250301"
        )
        assert.deepStrictEqual(arm64Nvidia?.requirements, [
          { key: "kubernetes.io/arch", operator: "In", values: ["arm64"] },
          { key: "karpenter.k8s.aws/instance-gpu-count", operator: "Exists" }
        ])
        assert.strictEqual(status?.amis?.length, 5)

        // upstream's name: the cluster, then hashstructure (FNV-1 64) of region + node class name.
        assert.strictEqual(status?.instanceProfile, "test-cluster_4067990795380418201")
        const profile = (yield* (yield* Iam).getInstanceProfile({ InstanceProfileName: status?.instanceProfile }))
          .InstanceProfile
        assert.deepStrictEqual(
          profile?.Roles?.map((role) => role.RoleName),
          ["KarpenterNodeRole-test-cluster"]
        )
        assert.deepStrictEqual(Object.fromEntries((profile?.Tags ?? []).map((tag) => [tag.Key, tag.Value])), {
          "eks:eks-cluster-name": "test-cluster",
          "karpenter.k8s.aws/ec2nodeclass": "default",
          "kubernetes.io/cluster/test-cluster": "owned",
          "topology.kubernetes.io/region": "us-west-2"
        })

        assert.deepStrictEqual(statuses(status?.conditions), {
          AMIsReady: "True",
          SubnetsReady: "True",
          SecurityGroupsReady: "True",
          InstanceProfileReady: "True",
          ValidationSucceeded: "True",
          Ready: "True"
        })

        // A requeue that resolves the same things writes nothing; the profile is trusted for 15 minutes.
        const version = (yield* stored).metadata.resourceVersion
        const fake = yield* FakeAws.FakeAws
        const profileReads = Effect.map(
          fake.calls,
          (calls) => calls.filter((call) => call.operation === "GetInstanceProfile").length
        )
        const readsAfterCreation = yield* profileReads
        yield* TestClock.adjust("1 minute")
        yield* settle
        assert.strictEqual((yield* stored).metadata.resourceVersion, version)
        assert.strictEqual(yield* profileReads, readsAfterCreation)
        yield* TestClock.adjust("15 minutes")
        yield* settle
        assert.strictEqual(yield* profileReads, readsAfterCreation + 1)
      })
    )
  )

  it.effect("a subnet selector matching nothing: SubnetsReady=False SubnetsNotFound, Ready=False", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(
          nodeClassObject({ subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "other" } }] })
        )
        yield* NodeClassStatus.make(settings)
        yield* settle
        const status = (yield* stored).status
        assert.isUndefined(status?.subnets)
        const subnetsReady = status?.conditions?.find((condition) => condition.type === "SubnetsReady")
        assert.deepStrictEqual(
          [subnetsReady?.status, subnetsReady?.reason, subnetsReady?.message],
          ["False", "SubnetsNotFound", "SubnetSelector did not match any Subnets"]
        )
        const validation = status?.conditions?.find((condition) => condition.type === "ValidationSucceeded")
        assert.deepStrictEqual([validation?.status, validation?.reason], ["False", "DependenciesNotReady"])
        const rootCondition = status?.conditions?.find((condition) => condition.type === "Ready")
        assert.deepStrictEqual([rootCondition?.status, rootCondition?.reason], ["False", "UnhealthyDependents"])
      })
    )
  )

  it.effect(
    "picks up a new @latest release at the first requeue after its SSM parameter's 24-hour cache expires",
    () =>
      run(
        Effect.gen(function* () {
          yield* createNodeClass(nodeClassObject())
          yield* NodeClassStatus.make(settings)
          yield* settle
          const fake = yield* FakeAws.FakeAws
          const name = "amazon-eks-node-al2023-x86_64-standard-1.32-v20250501"
          const id = yield* fake.registerImage({
            Name: name,
            Architecture: "x86_64",
            CreationDate: "2025-05-01T00:00:00.000Z"
          })
          yield* fake.putParameter(recommended("x86_64", "standard"), id)
          yield* settle
          const amiOf = Effect.map(stored, (object) =>
            object.status?.amis?.find(
              (ami) => ami.requirements.length === 3 && ami.requirements[0]?.values?.[0] === "amd64"
            )
          )
          assert.strictEqual((yield* amiOf)?.name, "amazon-eks-node-al2023-x86_64-standard-1.32-v20250301")

          // Requeued every minute (the subnets' interval), but the alias's parameters are cached for a day.
          yield* TestClock.adjust("1 minute")
          yield* settle
          assert.strictEqual((yield* amiOf)?.name, "amazon-eks-node-al2023-x86_64-standard-1.32-v20250301")

          yield* TestClock.adjust("24 hours")
          yield* settle
          assert.deepStrictEqual([(yield* amiOf)?.id, (yield* amiOf)?.name], [id, name])
          // Newest first.
          assert.strictEqual((yield* stored).status?.amis?.[0]?.id, id)
        })
      ),
    // A virtual day of one-minute requeues: seconds of CPU, more on a loaded machine.
    controllerSuite.timeout
  )

  it.effect(
    "selector terms by id and name; an AMI name term keeps the newest non-deprecated image per architecture",
    () =>
      run(
        Effect.gen(function* () {
          const fake = yield* FakeAws.FakeAws
          // Newer than every seeded release, but already deprecated: a non-deprecated image is preferred.
          yield* fake.registerImage({
            Name: "amazon-eks-node-al2023-x86_64-standard-1.32-v20250501",
            Architecture: "x86_64",
            CreationDate: "2025-05-01T00:00:00.000Z",
            DeprecationTime: "1970-01-01T00:00:00.000Z",
            ImageOwnerAlias: "amazon"
          })
          const [subnet] = yield* (yield* Ec2).describeSubnets({})
          const [group] = yield* (yield* Ec2).describeSecurityGroups({})
          yield* createNodeClass(
            nodeClassObject({
              subnetSelectorTerms: [{ id: subnet?.SubnetId }],
              securityGroupSelectorTerms: [{ name: group?.GroupName }],
              amiFamily: "AL2023",
              amiSelectorTerms: [{ name: "amazon-eks-node-al2023-*-standard-1.32-*" }],
              instanceProfile: "existing-profile"
            })
          )
          yield* NodeClassStatus.make(settings)
          yield* settle
          const status = (yield* stored).status
          assert.deepStrictEqual(
            status?.subnets?.map((entry) => entry.id),
            [subnet?.SubnetId]
          )
          assert.deepStrictEqual(
            status?.securityGroups?.map((entry) => entry.id),
            [group?.GroupId]
          )
          // Equal creation dates: by id.
          assert.deepStrictEqual(
            status?.amis?.map((ami) => [ami.name, ami.requirements]),
            [
              [
                "amazon-eks-node-al2023-x86_64-standard-1.32-v20250301",
                [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }]
              ],
              [
                "amazon-eks-node-al2023-arm64-standard-1.32-v20250301",
                [{ key: "kubernetes.io/arch", operator: "In", values: ["arm64"] }]
              ]
            ]
          )
          // An instanceProfile is copied unchecked; no profile is created.
          assert.strictEqual(status?.instanceProfile, "existing-profile")
          assert.isFalse((yield* fake.calls).some((call) => call.operation === "CreateInstanceProfile"))
          assert.strictEqual(status?.conditions?.find((condition) => condition.type === "Ready")?.status, "True")
        })
      )
  )

  it.effect(
    "a pinned alias resolves that release's parameters; an unknown release fails without touching AMIsReady",
    () =>
      run(
        Effect.gen(function* () {
          yield* createNodeClass(nodeClassObject({ amiSelectorTerms: [{ alias: "al2023@v20250101" }] }))
          yield* NodeClassStatus.make(settings)
          yield* settle
          const names = (yield* stored).status?.amis?.map((ami) => ami.name).sort()
          assert.deepStrictEqual(names, [
            "amazon-eks-node-al2023-arm64-nvidia-1.32-v20250101",
            "amazon-eks-node-al2023-arm64-standard-1.32-v20250101",
            "amazon-eks-node-al2023-x86_64-neuron-1.32-v20250101",
            "amazon-eks-node-al2023-x86_64-nvidia-1.32-v20250101",
            "amazon-eks-node-al2023-x86_64-standard-1.32-v20250101"
          ])

          // upstream fails the reconcile ("failed to discover AMIs for alias"): the AMIs resolved before stay.
          const kube = yield* KubeClient
          yield* kube.patch(Resources.EC2NodeClasses, "default", {
            type: "merge",
            patch: { spec: { amiSelectorTerms: [{ alias: "al2023@v20990101" }] } }
          })
          yield* settle
          const status = (yield* stored).status
          assert.strictEqual(status?.amis?.length, 5)
          assert.strictEqual(status?.conditions?.find((condition) => condition.type === "AMIsReady")?.status, "True")
        })
      )
  )

  it.effect("an AMI selector matching nothing: AMIsReady=False AMINotFound", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(nodeClassObject({ amiFamily: "AL2023", amiSelectorTerms: [{ tags: { missing: "*" } }] }))
        yield* NodeClassStatus.make(settings)
        yield* settle
        const status = (yield* stored).status
        const amisReady = status?.conditions?.find((condition) => condition.type === "AMIsReady")
        assert.deepStrictEqual(
          [amisReady?.status, amisReady?.reason, amisReady?.message],
          ["False", "AMINotFound", "AMISelector did not match any AMIs"]
        )
        assert.isUndefined(status?.amis)
        assert.strictEqual(status?.conditions?.find((condition) => condition.type === "Ready")?.status, "False")
      })
    )
  )

  it.effect("a NodePool of a node class that is not Ready gets NodeClassReady=False with its reason", () =>
    run(
      Effect.gen(function* () {
        yield* createNodeClass(
          nodeClassObject({ subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "other" } }] })
        )
        yield* createNodePool(
          nodePool("np", {
            template: {
              spec: { nodeClassRef: { group: EC2NodeClass.group, kind: EC2NodeClass.kind, name: "default" } }
            }
          })
        )
        yield* NodeClassStatus.make(settings)
        yield* Readiness.make()
        yield* settle
        const blocked = yield* conditionOf("np", ConditionTypes.NodeClassReady)
        assert.deepStrictEqual([blocked?.status, blocked?.reason], ["False", "UnhealthyDependents"])
        assert.strictEqual((yield* conditionOf("np", "Ready"))?.status, "False")
      })
    )
  )

  it.effect(
    "deletion waits for the node class's NodeClaims, then deletes its instance profile and launch templates",
    () => {
      const events: Array<Event> = []
      return run(
        Effect.gen(function* () {
          const kube = yield* KubeClient
          const ec2 = yield* Ec2
          yield* createNodeClass(nodeClassObject())
          yield* kube.create(
            Resources.NodeClaims,
            nodeClaim("claim", { nodeClassRef: { ...ec2NodeClassKind, name: "default" } }) as never
          )
          yield* NodeClassStatus.make(settings)
          yield* settle
          assert.deepStrictEqual((yield* stored).metadata.finalizers, [NodeClassStatus.TerminationFinalizer])
          yield* ec2.createLaunchTemplate({
            LaunchTemplateName: "karpenter.k8s.aws/1234",
            LaunchTemplateData: {},
            TagSpecifications: [
              {
                ResourceType: "launch-template",
                Tags: [
                  { Key: "eks:eks-cluster-name", Value: "test-cluster" },
                  { Key: "karpenter.k8s.aws/ec2nodeclass", Value: "default" }
                ]
              }
            ]
          })

          yield* kube.delete(Resources.EC2NodeClasses, "default")
          yield* settle
          assert.isDefined((yield* stored).metadata.deletionTimestamp)
          assert.deepStrictEqual(
            events.map((event) => [event.reason, event.message]),
            [["WaitingOnNodeClaimTermination", "Waiting on NodeClaim termination for claim"]]
          )

          // The last NodeClaim's deletion queues the node class (no ten-minute wait).
          yield* kube.delete(Resources.NodeClaims, "claim")
          yield* settle
          const gone = yield* Effect.flip(stored)
          assert.strictEqual(gone._tag, "NotFound")
          const profile = yield* Effect.flip(
            (yield* Iam).getInstanceProfile({ InstanceProfileName: "test-cluster_4067990795380418201" })
          )
          assert.strictEqual(profile._tag, "AwsNotFound")
          assert.deepStrictEqual(yield* ec2.describeLaunchTemplates({}), [])
        }),
        events
      )
    }
  )
})

describe("nodeclass status: capacity reservations (ReservedCapacity gate)", () => {
  const selectReservations = Effect.gen(function* () {
    const fake = yield* FakeAws.FakeAws
    const byId = yield* fake.createCapacityReservation({
      instanceType: "m5.large",
      availabilityZone: "us-west-2a",
      count: 2
    })
    const byTag = yield* fake.createCapacityReservation({
      instanceType: "c5.xlarge",
      availabilityZone: "us-west-2b",
      count: 1,
      tags: { team: "ml" },
      instanceMatchCriteria: "open"
    })
    // Tagged alike but cancelled: not active, not selected.
    const cancelled = yield* fake.createCapacityReservation({
      instanceType: "c5.large",
      availabilityZone: "us-west-2b",
      count: 1,
      tags: { team: "ml" }
    })
    yield* fake.setCapacityReservationState(cancelled, "cancelled")
    yield* createNodeClass(
      nodeClassObject({ capacityReservationSelectorTerms: [{ id: byId }, { tags: { team: "ml" } }] })
    )
    return { byId, byTag }
  })

  it.effect("with the gate, the selected active reservations are in the status and Ready waits for them", () =>
    run(
      Effect.gen(function* () {
        const { byId, byTag } = yield* selectReservations
        yield* NodeClassStatus.make({ ...settings, reservedCapacity: true })
        yield* settle
        const status = (yield* stored).status
        assert.deepStrictEqual(status?.capacityReservations, [
          {
            availabilityZone: "us-west-2a",
            id: byId,
            instanceMatchCriteria: "targeted",
            instanceType: "m5.large",
            ownerID: "123456789012"
          },
          {
            availabilityZone: "us-west-2b",
            id: byTag,
            instanceMatchCriteria: "open",
            instanceType: "c5.xlarge",
            ownerID: "123456789012"
          }
        ])
        const conditions = statuses(status?.conditions)
        assert.strictEqual(conditions.CapacityReservationsReady, "True")
        assert.strictEqual(conditions.Ready, "True")
      })
    )
  )

  it.effect("without the gate, reservations are not resolved and not a Ready dependency", () =>
    run(
      Effect.gen(function* () {
        yield* selectReservations
        yield* NodeClassStatus.make(settings)
        yield* settle
        const status = (yield* stored).status
        assert.isUndefined(status?.capacityReservations)
        assert.isUndefined(statuses(status?.conditions).CapacityReservationsReady)
        assert.strictEqual(statuses(status?.conditions).Ready, "True")
      })
    )
  )
})
