/**
 * The installs' RBAC is least privilege: manifests/base/rbac.yaml grants exactly what every process calls (the tables
 * below, read off the code), manifests/kwok-rbac.yaml and manifests/aws/rbac.yaml exactly what their provider adds,
 * nothing broad; and a whole Karpenter process of each install — every controller, the provider and its controllers,
 * leader election — driven through provisioning, a NodeClaim deletion (with an eviction, or an interruption on AWS)
 * and an emptiness consolidation makes no call its install's roles would refuse.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as FakeAws from "../../layers/cloudprovider/aws/fake/FakeAws.ts"
import * as FakeKubelet from "../../layers/cloudprovider/aws/fake/FakeKubelet.ts"
import * as AwsOperator from "../../layers/cloudprovider/aws/operator/AwsOperator.ts"
import * as KwokCloudProvider from "../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import type { KubeObject, Resource } from "../../src/kube/Resource.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Controllers from "../../src/operator/Controllers.ts"
import * as Options from "../../src/operator/Options.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as LeaderElection from "../../src/runtime/LeaderElection.ts"
import * as ClusterState from "../../src/state/Cluster.ts"
import * as S from "../controllers/support.ts"
import { readYamlDocuments } from "../fixtures.ts"
import * as Messages from "../layers/cloudprovider/aws/controllers/InterruptionMessages.ts"
import * as Aws from "../layers/cloudprovider/aws/support.ts"

interface PolicyRule {
  readonly apiGroups?: ReadonlyArray<string>
  readonly resources?: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
  readonly resourceNames?: ReadonlyArray<string>
  readonly nonResourceURLs?: ReadonlyArray<string>
}

interface RbacObject {
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string }
  readonly rules?: ReadonlyArray<PolicyRule>
  readonly roleRef?: { readonly kind: string; readonly name: string }
  readonly subjects?: ReadonlyArray<{ readonly kind: string; readonly name: string; readonly namespace?: string }>
}

/** The release namespace, where a Role without a namespace of its own lands (the kustomizations' `namespace:`). */
const releaseNamespace = "karpenter"

const rbacFile = (path: string) => readYamlDocuments(path) as ReadonlyArray<RbacObject>
const base = rbacFile("manifests/base/rbac.yaml")
const kwok = rbacFile("manifests/kwok-rbac.yaml")
const aws = rbacFile("manifests/aws/rbac.yaml")
/** The RBAC each install applies. */
const installs = { kwok: [...base, ...kwok], aws: [...base, ...aws] }

const byKind = (objects: ReadonlyArray<RbacObject>, kind: string) => objects.filter((object) => object.kind === kind)
const rulesOf = (objects: ReadonlyArray<RbacObject>, kind: "ClusterRole" | "Role") =>
  byKind(objects, kind).flatMap((role) => role.rules ?? [])

/** `group/resource verb` for every (group, resource, verb) a set of rules grants. */
const grants = (rules: ReadonlyArray<PolicyRule>): Array<string> =>
  rules
    .flatMap((rule) =>
      (rule.apiGroups ?? []).flatMap((group) =>
        (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => `${group}/${resource} ${verb}`))
      )
    )
    .sort()

/**
 * What every process calls, cluster-wide, and where (paths under src/ unless noted). Informers list and watch;
 * every write is a merge or JSON patch, never an update.
 */
const shared: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  // Informers (state/Cluster, provisioning, nodepool/*); RegistrationHealth reads; Hash annotates.
  ["karpenter.sh/nodepools", ["get", "list", "watch", "patch"]],
  // The provisioner creates; lifecycle labels, annotates and finalizes; disruption, expiration, GC and termination delete.
  ["karpenter.sh/nodeclaims", ["get", "list", "watch", "create", "patch", "delete"]],
  // Counter, readiness, validation, registration health.
  ["karpenter.sh/nodepools/status", ["patch"]],
  // Lifecycle, consistency, disruption conditions, pod events, instance termination, the disruption controller.
  ["karpenter.sh/nodeclaims/status", ["patch"]],
  // nodeoverlay.controller (NodeOverlay gate): its informer, and the ValidationSucceeded condition.
  ["karpenter.sh/nodeoverlays", ["list", "watch"]],
  ["karpenter.sh/nodeoverlays/status", ["patch"]],
  // capacitybuffer controller and the provisioner (CapacityBuffer gate): buffers, what they name, their status.
  ["autoscaling.x-k8s.io/capacitybuffers", ["list", "watch"]],
  ["autoscaling.x-k8s.io/capacitybuffers/status", ["patch"]],
  ["/podtemplates", ["list", "watch"]],
  ["apps/deployments", ["list", "watch"]],
  ["apps/replicasets", ["list", "watch"]],
  ["apps/statefulsets", ["list", "watch"]],
  // Lifecycle and termination patch and delete Nodes (the AWS provider's instance GC deletes them too).
  ["/nodes", ["get", "list", "watch", "patch", "delete"]],
  // Informers; termination deletes pods left past the node's termination grace period.
  ["/pods", ["list", "watch", "delete"]],
  // The eviction queue.
  ["/pods/eviction", ["create"]],
  // Cluster state informers for the scheduling simulation.
  ["/namespaces", ["list", "watch"]],
  ["/persistentvolumes", ["list", "watch"]],
  // And node termination's informers: the claims of a drained node's pods, and its VolumeAttachments.
  ["/persistentvolumeclaims", ["list", "watch"]],
  ["storage.k8s.io/storageclasses", ["list", "watch"]],
  ["storage.k8s.io/csinodes", ["list", "watch"]],
  ["storage.k8s.io/volumeattachments", ["list", "watch"]],
  ["apps/daemonsets", ["list", "watch"]],
  ["policy/poddisruptionbudgets", ["list", "watch"]],
  // kube/EventRecorder: a new Event, or its count bumped.
  ["/events", ["create", "patch"]]
]

/** What only the KWOK provider calls (layers/cloudprovider/kwok). */
const kwokOnly: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  // NodeClass informers (nodepool/nodeclass) and the launch.
  ["karpenter.kwok.sh/kwoknodeclasses", ["get", "list", "watch"]],
  // Its instances are Nodes it creates.
  ["/nodes", ["create"]]
]

/** What only the AWS provider calls (layers/cloudprovider/aws). */
const awsOnly: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  // NodeClass informers (nodepool/nodeclass, controllers/*), the launch's get, NodeClassHash's annotations and
  // NodeClassStatus's finalizer (merge patches of the object).
  ["karpenter.k8s.aws/ec2nodeclasses", ["get", "list", "watch", "patch"]],
  // NodeClassStatus.
  ["karpenter.k8s.aws/ec2nodeclasses/status", ["patch"]]
]

const expand = (table: ReadonlyArray<readonly [string, ReadonlyArray<string>]>) =>
  table.flatMap(([resource, verbs]) => verbs.map((verb) => `${resource} ${verb}`)).sort()

/** One KubeClient call, as the API server's authorizer sees it. */
interface Call {
  readonly verb: string
  readonly group: string
  readonly resource: string
  readonly namespace?: string
  readonly name?: string
}

const describeCall = (call: Call) =>
  `${call.verb} ${call.group}/${call.resource}${call.namespace === undefined ? "" : ` in ${call.namespace}`}${call.name === undefined ? "" : ` (${call.name})`}`

/** Whether a rule allows a call: RBAC's matching (resourceNames narrow every verb but create, list and watch). */
const allows = (rule: PolicyRule, call: Call): boolean =>
  (rule.apiGroups ?? []).includes(call.group) &&
  (rule.resources ?? []).includes(call.resource) &&
  rule.verbs.includes(call.verb) &&
  (rule.resourceNames === undefined || (call.name !== undefined && rule.resourceNames.includes(call.name)))

/** Whether an install's roles allow a call: a ClusterRole anywhere, a Role in its own namespace. */
const authorized = (install: ReadonlyArray<RbacObject>, call: Call): boolean =>
  rulesOf(install, "ClusterRole").some((rule) => allows(rule, call)) ||
  byKind(install, "Role").some(
    (role) =>
      call.namespace === (role.metadata.namespace ?? releaseNamespace) &&
      (role.rules ?? []).some((rule) => allows(rule, call))
  )

/** The calls an install's roles would refuse, each once. */
const refusedBy = (install: ReadonlyArray<RbacObject>, calls: ReadonlyArray<Call>) => [
  ...new Set(calls.filter((call) => !authorized(install, call)).map(describeCall))
]

/** Fails unless the run made each of `expected` (so a check of its calls is not vacuous). */
const assertMade = (calls: ReadonlyArray<Call>, expected: ReadonlyArray<string>) => {
  const made = new Set(calls.map((call) => `${call.group}/${call.resource} ${call.verb}`))
  for (const call of expected) {
    assert.isTrue(made.has(call), `${call} not made; made: ${[...made].sort().join(", ")}`)
  }
}

/** A KubeClient that logs every call it forwards, with the verb the API server authorizes it as. */
const recording = (calls: Array<Call>): Layer.Layer<KubeClient, never, KubeClient> =>
  Layer.effect(
    KubeClient,
    Effect.gen(function* () {
      const kube = yield* KubeClient
      const log = (
        verb: string,
        resource: Resource<KubeObject, unknown> | { readonly group: string; readonly plural: string },
        where: {
          readonly namespace?: string | undefined
          readonly name?: string | undefined
          readonly sub?: string | undefined
        }
      ) =>
        Effect.sync(() => {
          calls.push({
            verb,
            group: resource.group,
            resource: where.sub === undefined ? resource.plural : `${resource.plural}/${where.sub}`,
            ...(where.namespace === undefined ? {} : { namespace: where.namespace }),
            ...(where.name === undefined ? {} : { name: where.name })
          })
        })
      const nameOf = (object: unknown) => (object as KubeObject).metadata.name
      return KubeClient.of({
        get: (resource, name, options) =>
          Effect.andThen(
            log("get", resource, { namespace: options?.namespace, name }),
            kube.get(resource, name, options)
          ),
        list: (resource, options) =>
          Effect.andThen(log("list", resource, { namespace: options?.namespace }), kube.list(resource, options)),
        watch: (resource, options) =>
          Stream.unwrap(
            Effect.as(log("watch", resource, { namespace: options?.namespace }), kube.watch(resource, options))
          ),
        create: (resource, object, options) =>
          Effect.andThen(
            log("create", resource, { namespace: options?.namespace }),
            kube.create(resource, object, options)
          ),
        replace: (resource, object, options) =>
          Effect.andThen(
            log("update", resource, { namespace: options?.namespace, name: nameOf(object), sub: options?.subresource }),
            kube.replace(resource, object, options)
          ),
        patch: (resource, name, patch, options) =>
          Effect.andThen(
            log("patch", resource, { namespace: options?.namespace, name, sub: options?.subresource }),
            kube.patch(resource, name, patch, options)
          ),
        delete: (resource, name, options) =>
          Effect.andThen(
            log("delete", resource, { namespace: options?.namespace, name }),
            kube.delete(resource, name, options)
          ),
        evict: (namespace, name, options) =>
          Effect.andThen(
            log("create", Resources.Pods, { namespace, name, sub: "eviction" }),
            kube.evict(namespace, name, options)
          ),
        bind: (namespace, name, nodeName) =>
          Effect.andThen(
            log("create", Resources.Pods, { namespace, name, sub: "binding" }),
            kube.bind(namespace, name, nodeName)
          )
      })
    })
  )

/** One Karpenter process as `controller` composes it, on a provider and its controllers, every call through `calls`. */
const karpenterProcess = <ROut, RIn, RControllers>(
  calls: Array<Call>,
  provider: {
    readonly cloudProvider: Layer.Layer<ROut, never, RIn>
    readonly controllers: Layer.Layer<never, never, RControllers>
  }
) =>
  Layer.mergeAll(
    // Every gate that adds API calls is on, so its calls are checked against the role too.
    Controllers.layer({ nodeOverlay: true }),
    provider.controllers,
    LeaderElection.layer({ name: "karpenter-leader-election", namespace: releaseNamespace, identity: "replica-a" })
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(EventRecorder.layer, ClusterState.layer)),
    Layer.provideMerge(provider.cloudProvider),
    Layer.provideMerge(InformerCache.layer),
    Layer.provide(recording(calls))
  )

/** The AWS provider's environment: the settings a user puts in manifests/aws/settings.env, the cluster's facts. */
const awsEnvironment: AwsOperator.Environment = {
  settings: {
    ...Options.defaults.aws,
    clusterName: Aws.cluster.name,
    clusterEndpoint: Aws.cluster.endpoint,
    clusterCIDR: Aws.cluster.cidr,
    interruptionQueue: "karpenter-interruption"
  },
  region: "us-west-2",
  kubernetesVersion: "1.32",
  caBundle: Aws.cluster.caBundle,
  kubeDnsIp: Aws.cluster.kubeDnsIp,
  dataset: Aws.dataset
}

const createNamespace = Effect.flatMap(Effect.service(KubeClient), (kube) =>
  kube.create(Resources.Namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: releaseNamespace } })
)

/** Every rule of every file: no wildcards, no URLs, no secrets, no cluster-wide ConfigMaps, no escalation. */
const assertNothingBroad = (objects: ReadonlyArray<RbacObject>) => {
  for (const rule of [...rulesOf(objects, "ClusterRole"), ...rulesOf(objects, "Role")]) {
    for (const value of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]) {
      assert.notInclude(value, "*", JSON.stringify(rule))
    }
    assert.isUndefined(rule.nonResourceURLs)
    for (const resource of rule.resources ?? []) {
      assert.notInclude(["secrets", "serviceaccounts", "pods/exec", "pods/binding"], resource)
    }
    for (const verb of rule.verbs) assert.notInclude(["escalate", "bind", "impersonate", "deletecollection"], verb)
  }
  for (const rule of rulesOf(objects, "ClusterRole")) assert.notInclude(rule.resources ?? [], "configmaps")
}

describe("the installs' RBAC", () => {
  it("binds each file's ClusterRole and Role to the karpenter ServiceAccount", () => {
    for (const objects of [base, kwok, aws]) {
      for (const binding of [...byKind(objects, "ClusterRoleBinding"), ...byKind(objects, "RoleBinding")]) {
        const roleKind = binding.kind === "ClusterRoleBinding" ? "ClusterRole" : "Role"
        const [bound, ...others] = byKind(objects, roleKind)
        assert.lengthOf(others, 0)
        assert.deepStrictEqual(binding.roleRef, {
          apiGroup: "rbac.authorization.k8s.io",
          kind: roleKind,
          name: bound?.metadata.name
        } as never)
        assert.strictEqual(binding.metadata.namespace, bound?.metadata.namespace, binding.metadata.name)
        assert.deepStrictEqual(binding.subjects, [
          { kind: "ServiceAccount", name: "karpenter", namespace: releaseNamespace }
        ])
      }
      assert.lengthOf(byKind(objects, "ClusterRoleBinding"), 1)
      assert.lengthOf(byKind(objects, "RoleBinding"), 1)
    }
  })

  it("the ClusterRoles grant exactly what the controllers call: the base's what all do, each provider's its own", () => {
    assert.deepStrictEqual(grants(rulesOf(base, "ClusterRole")), expand(shared))
    assert.deepStrictEqual(grants(rulesOf(kwok, "ClusterRole")), expand(kwokOnly))
    assert.deepStrictEqual(grants(rulesOf(aws, "ClusterRole")), expand(awsOnly))
  })

  it("the Roles grant leader election on its one Lease, the KWOK provider's instance records, kube-dns on AWS", () => {
    assert.deepStrictEqual(rulesOf(base, "Role"), [
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["karpenter-leader-election"],
        verbs: ["get", "patch"]
      },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] }
    ])
    // layers/cloudprovider/kwok: created at launch, read by get, listed and watched by every replica, deleted
    // with the instance.
    assert.deepStrictEqual(rulesOf(kwok, "Role"), [
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "create", "delete"] }
    ])
    // layers/kube/live/ClusterInfo: the AWS provider's startup read of the nodes' default cluster DNS, the one
    // Service in kube-system (over the API server directly, so not in the recorded run below).
    assert.deepStrictEqual(
      byKind(aws, "Role").map((role) => [role.metadata.namespace, role.rules]),
      [["kube-system", [{ apiGroups: [""], resources: ["services"], resourceNames: ["kube-dns"], verbs: ["get"] }]]]
    )
    assert.isTrue(
      authorized(installs.aws, {
        verb: "get",
        group: "",
        resource: "services",
        namespace: "kube-system",
        name: "kube-dns"
      })
    )
  })

  it("grants nothing broad: no wildcards, no URLs, no secrets, no cluster-wide ConfigMaps, no privilege escalation", () => {
    for (const objects of [base, kwok, aws]) assertNothingBroad(objects)
  })

  it.effect(
    "a whole KWOK process — provisioning, a NodeClaim deletion with eviction, emptiness, leader election — stays within manifests/",
    () =>
      Effect.gen(function* () {
        const calls: Array<Call> = []
        const kube = yield* KubeClient
        yield* createNamespace
        yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
        yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
        // The cluster's own components use the API server directly; only the Karpenter process is recorded.
        yield* Layer.build(
          Layer.mergeAll(
            S.controlPlane,
            karpenterProcess(calls, {
              cloudProvider: KwokCloudProvider.layer({ namespace: releaseNamespace }),
              controllers: Layer.empty
            })
          )
        )
        yield* S.createPod(S.pod("web", { labels: { app: "web" } }))
        yield* S.advance(5_000, 250)
        const running = yield* S.getPod("web")
        assert.strictEqual(running.status?.phase, "Running")

        // `kubectl delete nodeclaim`: the node is drained through the eviction API and terminated.
        yield* kube.delete(Resources.NodeClaims, running.spec.nodeName ?? "")
        yield* S.advance(60_000)
        assert.lengthOf(yield* S.listNodeClaims, 0)

        // A new pod gets a new node; once the pod is gone the node is empty and consolidated away.
        yield* S.createPod(S.pod("batch", { labels: { app: "batch" } }))
        yield* S.advance(5_000, 250)
        assert.lengthOf(yield* S.listNodeClaims, 1)
        yield* kube.delete(Resources.Pods, "batch", { namespace: "default", gracePeriodSeconds: 0 })
        yield* S.advance(120_000)
        assert.lengthOf(yield* S.listNodeClaims, 0)

        assert.deepStrictEqual(refusedBy(installs.kwok, calls), [])
        assertMade(calls, [
          "karpenter.sh/nodeclaims create",
          "karpenter.sh/nodeclaims delete",
          "karpenter.sh/nodeclaims/status patch",
          "karpenter.sh/nodepools/status patch",
          "/nodes create",
          "/nodes delete",
          "/configmaps create",
          "/configmaps watch",
          "/configmaps delete",
          "/pods/eviction create",
          "/events create",
          "coordination.k8s.io/leases create",
          "coordination.k8s.io/leases patch"
        ])
      }).pipe(Effect.provide(MemoryKube.layer())),
    S.controllerSuite.timeout
  )

  it.effect(
    "a whole AWS process — provisioning, a spot interruption with eviction, the NodeClass deleted — stays within manifests/aws/",
    () =>
      Effect.gen(function* () {
        const calls: Array<Call> = []
        const kube = yield* KubeClient
        const fake = yield* FakeAws.FakeAws
        yield* createNamespace
        yield* kube.create(Resources.EC2NodeClasses, Aws.nodeClassObject() as never)
        yield* S.createNodePool(S.nodePool("default", { nodeClassRef: Aws.nodeClassRef }))
        yield* Layer.build(
          Layer.mergeAll(
            S.controlPlane,
            // The instances' kubelets, like the control plane, are not the Karpenter process: their own client and cache
            // (fresh: the same Layer value would be shared with the process's).
            FakeKubelet.layer().pipe(Layer.provide(Layer.fresh(InformerCache.layer))),
            karpenterProcess(calls, {
              cloudProvider: AwsOperator.providerLayer(awsEnvironment),
              controllers: AwsOperator.controllersLayer(awsEnvironment)
            })
          )
        )
        yield* S.createPod(S.pod("web", { labels: { app: "web" } }))
        yield* S.advance(5_000 + Duration.toMillis(FakeKubelet.defaultBootTime), 1_000)
        const [launched] = yield* S.listNodeClaims
        const instanceId = launched?.status?.providerID?.split("/").at(-1) ?? ""
        assert.match(instanceId, /^i-/)

        // A spot interruption warning deletes the NodeClaim: its pod is evicted (a bare pod, so nothing recreates it)
        // and the instance terminated.
        yield* fake.sendMessage(Messages.spotInterruption(instanceId, yield* Clock.currentTimeMillis))
        yield* S.advance(60_000, 1_000)
        assert.lengthOf(yield* S.listNodeClaims, 0)

        // Then the NodePool and the NodeClass go, the NodeClass's termination finalizer lifted.
        yield* kube.delete(Resources.NodePools, "default")
        yield* kube.delete(Resources.EC2NodeClasses, "default")
        yield* S.advance(30_000, 1_000)
        assert.lengthOf((yield* kube.list(Resources.EC2NodeClasses)).items, 0)

        assert.deepStrictEqual(refusedBy(installs.aws, calls), [])
        assertMade(calls, [
          "karpenter.k8s.aws/ec2nodeclasses watch",
          "karpenter.k8s.aws/ec2nodeclasses get",
          "karpenter.k8s.aws/ec2nodeclasses patch",
          "karpenter.k8s.aws/ec2nodeclasses/status patch",
          "karpenter.sh/nodeclaims create",
          "karpenter.sh/nodeclaims delete",
          "karpenter.sh/nodeclaims/status patch",
          "/pods/eviction create",
          "/nodes delete",
          "/events create",
          "coordination.k8s.io/leases patch"
        ])
      }).pipe(
        Effect.provide(Layer.merge(FakeAws.layer({ instanceTypes: Aws.dataset, zones: Aws.zones }), MemoryKube.layer()))
      ),
    S.controllerSuite.timeout
  )
})
