/**
 * manifests/base/rbac.yaml is least privilege: the ClusterRole grants exactly the calls the controllers make (the table
 * below, read off the code), nothing broad; and a whole Karpenter process — every controller, the KWOK provider,
 * leader election — driven through provisioning, a NodeClaim deletion with an eviction and an emptiness
 * consolidation makes no call the ClusterRole and Role would refuse.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as KwokCloudProvider from "../../layers/cloudprovider/kwok/KwokCloudProvider.ts"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import { EventRecorder } from "../../src/kube/EventRecorder.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import type { KubeObject, Resource } from "../../src/kube/Resource.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Controllers from "../../src/operator/Controllers.ts"
import * as InformerCache from "../../src/runtime/InformerCache.ts"
import * as LeaderElection from "../../src/runtime/LeaderElection.ts"
import * as ClusterState from "../../src/state/Cluster.ts"
import * as S from "../controllers/support.ts"
import { readYamlDocuments } from "../fixtures.ts"

interface PolicyRule {
  readonly apiGroups?: ReadonlyArray<string>
  readonly resources?: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
  readonly resourceNames?: ReadonlyArray<string>
  readonly nonResourceURLs?: ReadonlyArray<string>
}

interface RbacObject {
  readonly kind: string
  readonly metadata: { readonly name: string }
  readonly rules?: ReadonlyArray<PolicyRule>
  readonly roleRef?: { readonly kind: string; readonly name: string }
  readonly subjects?: ReadonlyArray<{ readonly kind: string; readonly name: string; readonly namespace?: string }>
}

const objects = readYamlDocuments("manifests/base/rbac.yaml") as ReadonlyArray<RbacObject>
const byKind = (kind: string) => objects.filter((object) => object.kind === kind)
const clusterRole = byKind("ClusterRole")[0]!
const role = byKind("Role")[0]!

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
 * What the controllers call, cluster-wide, and where (paths under src/ unless noted). Informers list and watch;
 * every write is a merge or JSON patch, never an update.
 */
const clusterWide: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  // Informers (state/Cluster, provisioning, nodepool/*); RegistrationHealth reads; Hash annotates.
  ["karpenter.sh/nodepools", ["get", "list", "watch", "patch"]],
  // The provisioner creates; lifecycle labels, annotates and finalizes; disruption, expiration, GC and termination delete.
  ["karpenter.sh/nodeclaims", ["get", "list", "watch", "create", "patch", "delete"]],
  // Counter, readiness, validation, registration health.
  ["karpenter.sh/nodepools/status", ["patch"]],
  // Lifecycle, consistency, disruption conditions, pod events, instance termination, the disruption controller.
  ["karpenter.sh/nodeclaims/status", ["patch"]],
  // NodeClass informers (nodepool/NodeClasses) and the KWOK provider's launch (layers/cloudprovider/kwok).
  ["karpenter.kwok.sh/kwoknodeclasses", ["get", "list", "watch"]],
  // The KWOK provider creates, gets, lists and deletes Nodes; lifecycle and termination patch and delete them.
  ["/nodes", ["get", "list", "watch", "create", "patch", "delete"]],
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

/** The release namespace, where the Role applies. */
const releaseNamespace = "karpenter"

const authorized = (call: Call): boolean =>
  (clusterRole.rules ?? []).some((rule) => allows(rule, call)) ||
  (call.namespace === releaseNamespace && (role.rules ?? []).some((rule) => allows(rule, call)))

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

/** One Karpenter process as `controller` composes it, every call going through `calls`. */
const karpenterProcess = (calls: Array<Call>) =>
  Layer.mergeAll(
    Controllers.layer(),
    LeaderElection.layer({ name: "karpenter-leader-election", namespace: releaseNamespace, identity: "replica-a" })
  ).pipe(
    Layer.provideMerge(
      Layer.mergeAll(EventRecorder.layer, ClusterState.layer, KwokCloudProvider.layer({ namespace: releaseNamespace }))
    ),
    Layer.provideMerge(InformerCache.layer),
    Layer.provide(recording(calls))
  )

describe("manifests/base/rbac.yaml", () => {
  it("binds the ClusterRole and the Role to the karpenter ServiceAccount", () => {
    for (const binding of [...byKind("ClusterRoleBinding"), ...byKind("RoleBinding")]) {
      const roleKind = binding.kind === "ClusterRoleBinding" ? "ClusterRole" : "Role"
      assert.deepStrictEqual(binding.roleRef, {
        apiGroup: "rbac.authorization.k8s.io",
        kind: roleKind,
        name: byKind(roleKind)[0]?.metadata.name
      } as never)
      assert.deepStrictEqual(binding.subjects, [{ kind: "ServiceAccount", name: "karpenter", namespace: "karpenter" }])
    }
    assert.lengthOf(byKind("ClusterRoleBinding"), 1)
    assert.lengthOf(byKind("RoleBinding"), 1)
  })

  it("the ClusterRole grants exactly what the controllers call", () => {
    assert.deepStrictEqual(grants(clusterRole.rules ?? []), expand(clusterWide))
  })

  it("the Role grants leader election on its one Lease and creating it, and the KWOK provider's instance records", () => {
    assert.deepStrictEqual(role.rules, [
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["karpenter-leader-election"],
        verbs: ["get", "patch"]
      },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      // layers/cloudprovider/kwok: created at launch, read by get, listed and watched by every replica, deleted
      // with the instance.
      { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "create", "delete"] }
    ])
  })

  it("grants nothing broad: no wildcards, no URLs, no secrets, no cluster-wide ConfigMaps, no privilege escalation", () => {
    for (const rule of [...(clusterRole.rules ?? []), ...(role.rules ?? [])]) {
      for (const value of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]) {
        assert.notInclude(value, "*", JSON.stringify(rule))
      }
      assert.isUndefined(rule.nonResourceURLs)
      for (const resource of rule.resources ?? []) {
        assert.notInclude(["secrets", "serviceaccounts", "pods/exec", "pods/binding"], resource)
      }
      for (const verb of rule.verbs) assert.notInclude(["escalate", "bind", "impersonate", "deletecollection"], verb)
    }
    for (const rule of clusterRole.rules ?? []) assert.notInclude(rule.resources ?? [], "configmaps")
  })

  it.effect(
    "a whole process — provisioning, a NodeClaim deletion with eviction, emptiness, leader election — stays within it",
    () =>
      Effect.gen(function* () {
        const calls: Array<Call> = []
        const kube = yield* KubeClient
        yield* kube.create(Resources.Namespaces, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "karpenter" }
        })
        yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
        yield* S.createNodePool(S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef }))
        // The cluster's own components use the API server directly; only the Karpenter process is recorded.
        yield* Layer.build(Layer.mergeAll(S.controlPlane, karpenterProcess(calls)))
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

        const refused = calls.filter((call) => !authorized(call)).map(describeCall)
        assert.deepStrictEqual([...new Set(refused)], [])
        // The run exercised the rules that matter most, so the check above is not vacuous.
        const made = new Set(calls.map((call) => `${call.group}/${call.resource} ${call.verb}`))
        for (const expected of [
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
        ]) {
          assert.isTrue(made.has(expected), `${expected} not made; made: ${[...made].sort().join(", ")}`)
        }
      }).pipe(Effect.provide(MemoryKube.layer())),
    S.controllerSuite.timeout
  )
})
