import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as AwsCloudProvider from "../../../../layers/cloudprovider/aws/AwsCloudProvider.ts"
import * as FakeAws from "../../../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../../../../layers/cloudprovider/aws/fake/FakeKubelet.ts"
import * as UnavailableOfferings from "../../../../layers/cloudprovider/aws/UnavailableOfferings.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import { CloudProvider } from "../../../../src/cloudprovider/CloudProvider.ts"
import { KubeClient } from "../../../../src/kube/KubeClient.ts"
import * as Resources from "../../../../src/kube/Resources.ts"
import * as S from "../../../controllers/support.ts"
import { settle } from "../../../support/Settle.ts"
import {
  m5Large,
  nodeClassObject,
  nodeClassRef,
  operations,
  recommended,
  setUp,
  storedNodeClass,
  TestLayer,
  updateNodeClassSpec,
  zones
} from "./support.ts"

describe("AwsCloudProvider", () => {
  it.effect("create launches through a Ready EC2NodeClass: aws:///zone/i-… providerID, image, labels, resources", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const created = yield* cloud.create(m5Large)
      const providerID = created.status?.providerID ?? ""
      const [, zone = "", instanceId = ""] = /^aws:\/\/\/([^/]+)\/(i-[0-9a-f]+)$/.exec(providerID) ?? []
      assert.include(zones, zone)
      // The image is the node class's amd64 standard AMI.
      const amd64 = (yield* storedNodeClass).status?.amis?.find(
        (ami) => ami.name === "amazon-eks-node-al2023-x86_64-standard-1.32-v20250301"
      )
      assert.strictEqual(created.status?.imageID, amd64?.id)
      const labels = created.metadata.labels ?? {}
      assert.deepInclude(labels, {
        [Labels.InstanceType]: "m5.large",
        [Labels.Zone]: zone,
        [Labels.CapacityType]: "on-demand",
        [Labels.Arch]: "amd64",
        [Labels.NodePool]: "default",
        team: "platform",
        "karpenter.k8s.aws/instance-family": "m5",
        "karpenter.k8s.aws/instance-size": "large",
        "karpenter.k8s.aws/instance-cpu": "2",
        "karpenter.k8s.aws/instance-memory": "8192",
        "topology.k8s.aws/zone-id": (yield* storedNodeClass).status?.subnets?.find((subnet) => subnet.zone === zone)
          ?.zoneID
      })
      assert.strictEqual(created.status?.capacity?.cpu, "2")
      assert.strictEqual(created.status?.capacity?.pods, "29")
      assert.strictEqual(created.status?.allocatable?.pods, "29")
      assert.strictEqual(
        created.metadata.annotations?.[AwsCloudProvider.HashAnnotation],
        AwsCloudProvider.hashOf(yield* storedNodeClass)
      )
      assert.strictEqual(
        created.metadata.annotations?.[AwsCloudProvider.HashVersionAnnotation],
        AwsCloudProvider.HashVersion
      )

      // get and list read the instance back from DescribeInstances.
      const got = yield* cloud.get(providerID)
      assert.strictEqual(got.status?.providerID, providerID)
      assert.strictEqual(got.status?.imageID, amd64?.id)
      assert.deepInclude(got.metadata.labels ?? {}, {
        [Labels.InstanceType]: "m5.large",
        [Labels.Zone]: zone,
        [Labels.CapacityType]: "on-demand",
        [Labels.NodePool]: "default"
      })
      assert.isUndefined(got.metadata.deletionTimestamp)
      assert.deepStrictEqual(
        (yield* cloud.list()).map((claim) => claim.status?.providerID),
        [providerID]
      )
      assert.isTrue(instanceId.length > 2)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a NodeClass not Ready fails create with NodeClassNotReady; a missing one with InsufficientCapacity", () =>
    Effect.gen(function* () {
      // No subnet matches: SubnetsReady and so Ready are False.
      yield* setUp({ subnetSelectorTerms: [{ tags: { "karpenter.sh/discovery": "another-cluster" } }] })
      const cloud = yield* CloudProvider
      const notReady = yield* Effect.flip(cloud.create(m5Large))
      assert.strictEqual(notReady._tag, "NodeClassNotReady")
      const missing = yield* Effect.flip(
        cloud.create({ ...m5Large, spec: { ...m5Large.spec, nodeClassRef: { ...nodeClassRef, name: "absent" } } })
      )
      assert.strictEqual(missing._tag, "InsufficientCapacity")
      assert.strictEqual((yield* operations("CreateFleet")).length, 0)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a NodeClass whose readiness is still unknown fails create with a CreateError, as upstream", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      // No status controller: no conditions yet.
      yield* kube.create(Resources.EC2NodeClasses, nodeClassObject() as never)
      const cloud = yield* CloudProvider
      const error = yield* Effect.flip(cloud.create(m5Large))
      assert.strictEqual(error._tag, "CreateError")
      assert.strictEqual(error._tag === "CreateError" ? error.conditionReason : "", "NodeClassReadinessUnknown")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("delete terminates once; a shutting-down instance is still found, a terminated one is NotFound", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const created = yield* cloud.create(m5Large)
      const providerID = created.status?.providerID ?? ""
      yield* cloud.delete(created)
      assert.strictEqual((yield* operations("TerminateInstances")).length, 1)
      // Shutting down (the fake's 30 seconds): still there, marked deleting; no second TerminateInstances.
      const shuttingDown = yield* cloud.get(providerID)
      assert.isDefined(shuttingDown.metadata.deletionTimestamp)
      assert.strictEqual((yield* cloud.list()).length, 1)
      yield* cloud.delete(created)
      assert.strictEqual((yield* operations("TerminateInstances")).length, 1)

      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* Effect.flip(cloud.get(providerID)))._tag, "NodeClaimNotFound")
      assert.strictEqual((yield* Effect.flip(cloud.delete(created)))._tag, "NodeClaimNotFound")
      assert.deepStrictEqual(yield* cloud.list(), [])
      // An instance EC2 never had.
      const unknown = yield* Effect.flip(cloud.get("aws:///us-west-2a/i-0123456789abcdef0"))
      assert.strictEqual(unknown._tag, "NodeClaimNotFound")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect(
    "a new AMI release in the status drifts the NodeClaim: AMIDrift",
    () =>
      Effect.gen(function* () {
        yield* setUp()
        const cloud = yield* CloudProvider
        const created = yield* cloud.create(m5Large)
        assert.isUndefined(yield* cloud.isDrifted(created))
        const fake = yield* FakeAws.FakeAws
        const id = yield* fake.registerImage({
          Name: "amazon-eks-node-al2023-x86_64-standard-1.32-v20250501",
          Architecture: "x86_64",
          CreationDate: "2025-05-01T00:00:00.000Z"
        })
        yield* fake.putParameter(recommended("x86_64", "standard"), id)
        // The alias's SSM parameters are cached for a day.
        yield* TestClock.adjust("24 hours")
        yield* settle
        assert.strictEqual((yield* storedNodeClass).status?.amis?.[0]?.id, id)
        assert.strictEqual(yield* cloud.isDrifted(created), AwsCloudProvider.DriftReasons.AMIDrift)
      }).pipe(Effect.provide(TestLayer)),
    // A virtual day of one-minute requeues: seconds of CPU, more on a loaded machine.
    S.controllerSuite.timeout
  )

  it.effect("the instance's subnet leaving the status drifts the NodeClaim: SubnetDrift", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const created = yield* cloud.create(m5Large)
      const zone = created.metadata.labels?.[Labels.Zone]
      const others = ((yield* storedNodeClass).status?.subnets ?? []).filter((subnet) => subnet.zone !== zone)
      yield* updateNodeClassSpec({ subnetSelectorTerms: others.map((subnet) => ({ id: subnet.id })) })
      assert.strictEqual((yield* storedNodeClass).status?.subnets?.length, 2)
      assert.strictEqual(yield* cloud.isDrifted(created), AwsCloudProvider.DriftReasons.SubnetDrift)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a security group joining the status drifts the NodeClaim: SecurityGroupDrift", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const created = yield* cloud.create(m5Large)
      const fake = yield* FakeAws.FakeAws
      yield* fake.createSecurityGroup({
        GroupName: "test-cluster-extra",
        Tags: [{ Key: "karpenter.sh/discovery", Value: "test-cluster" }]
      })
      // Security groups are resolved again every five minutes.
      yield* TestClock.adjust("5 minutes")
      yield* settle
      assert.strictEqual((yield* storedNodeClass).status?.securityGroups?.length, 2)
      assert.strictEqual(yield* cloud.isDrifted(created), AwsCloudProvider.DriftReasons.SecurityGroupDrift)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a change of a static field drifts the NodeClaim by the hash annotation: NodeClassDrift", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const created = yield* cloud.create(m5Large)
      yield* updateNodeClassSpec({ tags: { team: "data" } })
      assert.strictEqual(yield* cloud.isDrifted(created), AwsCloudProvider.DriftReasons.NodeClassDrift)
      // Another hash version is never compared.
      const otherVersion = {
        ...created,
        metadata: {
          ...created.metadata,
          annotations: { ...created.metadata.annotations, [AwsCloudProvider.HashVersionAnnotation]: "v4" }
        }
      }
      assert.isUndefined(yield* cloud.isDrifted(otherVersion))
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("getInstanceTypes places offerings in the status subnets' zones and marks unavailable ones", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const pool = yield* Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodePools, "default"))
      const m5 = (yield* cloud.getInstanceTypes(pool)).find((type) => type.name === "m5.large")
      assert.deepStrictEqual(
        m5?.offerings.filter((offering) => offering.available).map((o) => `${o.capacityType}/${o.zone}`),
        zones.flatMap((zone) => [`on-demand/${zone}`, `spot/${zone}`])
      )
      const offerings = yield* UnavailableOfferings.UnavailableOfferings
      yield* offerings.markUnavailable("spot", "m5.large", "us-west-2b")
      const after = (yield* cloud.getInstanceTypes(pool)).find((type) => type.name === "m5.large")
      assert.isFalse(after?.offerings.find((o) => o.capacityType === "spot" && o.zone === "us-west-2b")?.available)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("getInstanceTypes offers a marked offering again when its three minutes are over, not later", () =>
    Effect.gen(function* () {
      yield* setUp()
      const cloud = yield* CloudProvider
      const pool = yield* Effect.flatMap(Effect.service(KubeClient), (kube) => kube.get(Resources.NodePools, "default"))
      const spotB = Effect.map(cloud.getInstanceTypes(pool), (types) =>
        types
          .find((type) => type.name === "m5.large")
          ?.offerings.find((o) => o.capacityType === "spot" && o.zone === "us-west-2b")
      )
      const offerings = yield* UnavailableOfferings.UnavailableOfferings
      yield* offerings.markUnavailable("spot", "m5.large", "us-west-2b")
      assert.isFalse((yield* spotB)?.available)
      yield* TestClock.adjust(UnavailableOfferings.ttl)
      assert.isTrue((yield* spotB)?.available, "available once the mark expired")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("is named aws, supports EC2NodeClass and has upstream's repair policies", () =>
    Effect.gen(function* () {
      const cloud = yield* CloudProvider
      assert.strictEqual(cloud.name, "aws")
      assert.deepStrictEqual(cloud.supportedNodeClasses, [{ group: "karpenter.k8s.aws", kind: "EC2NodeClass" }])
      assert.deepStrictEqual(
        cloud.repairPolicies.map((policy) => `${policy.conditionType}=${policy.conditionStatus}`),
        [
          "Ready=False",
          "Ready=Unknown",
          "AcceleratedHardwareReady=False",
          "StorageReady=False",
          "NetworkingReady=False",
          "KernelReady=False",
          "ContainerRuntimeReady=False"
        ]
      )
    }).pipe(Effect.provide(TestLayer))
  )
})

describe("AwsCloudProvider with the controllers", S.controllerSuite, () => {
  it.effect(
    "a NodePool on an EC2NodeClass provisions a pending pod: the instance joins as a Node and the pod is bound",
    () =>
      Effect.gen(function* () {
        yield* setUp()
        yield* S.createPendingPod(S.pod("a", { cpu: "1", memory: "2Gi" }))
        yield* Layer.build(Layer.mergeAll(S.karpenter(), S.controlPlane, FakeKubelet.layer()))
        yield* S.advance(2_000, 250)
        const [claim] = yield* S.listNodeClaims
        const providerID = claim?.status?.providerID ?? ""
        assert.match(providerID, /^aws:\/\/\/us-west-2[abc]\/i-[0-9a-f]+$/)
        assert.strictEqual(S.conditionOf(claim?.status?.conditions, "Launched")?.status, "True")
        assert.strictEqual(
          claim?.metadata.annotations?.[AwsCloudProvider.HashAnnotation],
          AwsCloudProvider.hashOf(yield* storedNodeClass)
        )
        const fleets = yield* operations("CreateFleet")
        assert.strictEqual(fleets.length, 1)

        // No Node before the instance has booted; its kubelet registers it then.
        assert.lengthOf(yield* S.listNodes, 0)
        yield* S.advance(Duration.toMillis(FakeKubelet.defaultBootTime), 1_000)
        const [registered] = yield* S.listNodeClaims
        assert.strictEqual(S.conditionOf(registered?.status?.conditions, "Registered")?.status, "True")
        assert.strictEqual(S.conditionOf(registered?.status?.conditions, "Initialized")?.status, "True")
        const [node] = yield* S.listNodes
        assert.strictEqual(node?.spec.providerID, providerID)
        // Registration copied the NodeClaim's labels, the AWS ones among them, and lifted the unregistered taint.
        assert.strictEqual(
          node?.metadata.labels?.["karpenter.k8s.aws/instance-family"],
          claim?.metadata.labels?.["karpenter.k8s.aws/instance-family"]
        )
        assert.isFalse((node?.spec.taints ?? []).some((taint) => taint.key === "karpenter.sh/unregistered"))
        assert.strictEqual((yield* S.getPod("a")).spec.nodeName, node?.metadata.name)

        // The instance terminated behind Karpenter's back (a user, an ASG): its Node goes away, and its NodeClaim.
        const fake = yield* FakeAws.FakeAws
        yield* fake.ec2.terminateInstances({ InstanceIds: [AwsCloudProvider.instanceIdOf(providerID) ?? ""] })
        yield* S.advance(60_000, 1_000)
        assert.notInclude(
          (yield* S.listNodes).map((candidate) => candidate.metadata.name),
          node?.metadata.name,
          "the terminated instance's Node is gone"
        )
        assert.notInclude(
          (yield* S.listNodeClaims).map((candidate) => candidate.status?.providerID),
          providerID,
          "its NodeClaim is gone"
        )
      }).pipe(Effect.provide(TestLayer))
  )
})
