/**
 * `kubectl kustomize manifests/` renders what a cluster install needs: the three CRDs, RBAC, the ServiceAccount, the
 * Deployment (two hardened replicas of this release's image), its PodDisruptionBudget and metrics Service, every
 * namespaced object in `karpenter`. Skipped, with the reason printed, only where kubectl is not installed.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { parseAllDocuments } from "yaml"
import { root } from "../fixtures.ts"

const kubectl = "/usr/bin/kubectl"
const hasKubectl = existsSync(kubectl)
if (!hasKubectl) console.log(`test/manifests/Kustomize.test.ts skipped: ${kubectl} is not installed`)

interface Rendered {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace?: string }
  /** Read field by field in the assertions. */
  readonly spec?: any
}

const render = (): ReadonlyArray<Rendered> =>
  parseAllDocuments(execFileSync(kubectl, ["kustomize", join(root, "manifests")], { encoding: "utf8" })).map(
    (document) => document.toJS() as Rendered
  )

const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version

const clusterScoped = new Set(["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"])

describe.skipIf(!hasKubectl)("kubectl kustomize manifests/", () => {
  const objects = hasKubectl ? render() : []
  const one = (kind: string) => {
    const matching = objects.filter((object) => object.kind === kind)
    assert.lengthOf(matching, 1, kind)
    return matching[0]!
  }

  it("renders the CRDs, namespace, RBAC, ServiceAccount, Deployment, PDB and Service", () => {
    assert.deepStrictEqual(
      objects
        .filter((object) => object.kind === "CustomResourceDefinition")
        .map((object) => object.metadata.name)
        .sort(),
      ["kwoknodeclasses.karpenter.kwok.sh", "nodeclaims.karpenter.sh", "nodepools.karpenter.sh"]
    )
    assert.deepStrictEqual(objects.map((object) => object.kind).sort(), [
      "ClusterRole",
      "ClusterRoleBinding",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "CustomResourceDefinition",
      "Deployment",
      "Namespace",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount"
    ])
  })

  it("puts every namespaced object in karpenter and leaves cluster-scoped ones without a namespace", () => {
    for (const object of objects) {
      const expected = clusterScoped.has(object.kind) ? undefined : "karpenter"
      assert.strictEqual(object.metadata.namespace, expected, `${object.kind} ${object.metadata.name}`)
    }
    assert.strictEqual(one("Namespace").metadata.name, "karpenter")
  })

  it("runs two replicas of this release's image as the controller, under the ServiceAccount RBAC binds", () => {
    const deployment = one("Deployment")
    const pod = deployment.spec.template.spec
    const [container, ...others] = pod.containers
    assert.lengthOf(others, 0)
    assert.strictEqual(deployment.spec.replicas, 2)
    assert.strictEqual(container.image, `karpenter-effect:${version}`)
    assert.deepStrictEqual(container.args, ["controller"])
    assert.isUndefined(container.command, "the image's entrypoint runs dist/bin.js")
    const serviceAccount = one("ServiceAccount").metadata.name
    assert.strictEqual(pod.serviceAccountName, serviceAccount)
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      const binding = one(kind) as unknown as { subjects: ReadonlyArray<{ name: string; namespace: string }> }
      assert.deepStrictEqual(
        binding.subjects.map((subject) => [subject.name, subject.namespace]),
        [[serviceAccount, "karpenter"]]
      )
    }
  })

  it("hardens the pod: non-root 65532, read-only root filesystem, no privilege escalation, no capabilities, seccomp", () => {
    const pod = one("Deployment").spec.template.spec
    const security = pod.containers[0].securityContext
    assert.strictEqual(security.runAsNonRoot, true)
    assert.strictEqual(security.runAsUser, 65532)
    assert.strictEqual(security.readOnlyRootFilesystem, true)
    assert.strictEqual(security.allowPrivilegeEscalation, false)
    assert.deepStrictEqual(security.capabilities, { drop: ["ALL"] })
    assert.deepStrictEqual(security.seccompProfile, { type: "RuntimeDefault" })
    assert.deepStrictEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" })
    assert.strictEqual(pod.securityContext.runAsNonRoot, true)
  })

  it("serves metrics on 8080 and probes on 8081, with the env naming the same ports", () => {
    const container = one("Deployment").spec.template.spec.containers[0]
    const ports = Object.fromEntries(
      container.ports.map((port: { name: string; containerPort: number }) => [port.name, port.containerPort])
    )
    assert.deepStrictEqual(ports, { "http-metrics": 8080, http: 8081 })
    const env = Object.fromEntries(
      container.env.map((variable: { name: string; value?: string; valueFrom?: unknown }) => [
        variable.name,
        variable.value ?? variable.valueFrom
      ])
    )
    assert.strictEqual(env.METRICS_PORT, "8080")
    assert.strictEqual(env.HEALTH_PROBE_PORT, "8081")
    assert.deepStrictEqual(env.LEADER_ELECTION_NAMESPACE, { fieldRef: { fieldPath: "metadata.namespace" } })
    assert.deepStrictEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "http" })
    assert.deepStrictEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "http" })
    for (const kind of ["requests", "limits"]) {
      assert.containsAllKeys(container.resources[kind], ["cpu", "memory"], kind)
    }
    const service = one("Service").spec
    assert.deepStrictEqual(service.ports, [
      { name: "http-metrics", port: 8080, targetPort: "http-metrics", protocol: "TCP" }
    ])
  })

  it("schedules like upstream's chart: critical, spread over zones and hosts, never on Karpenter's own nodes", () => {
    const pod = one("Deployment").spec.template.spec
    assert.strictEqual(pod.priorityClassName, "system-cluster-critical")
    assert.deepStrictEqual(pod.tolerations, [{ key: "CriticalAddonsOnly", operator: "Exists" }])
    assert.deepStrictEqual(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, [
      { matchExpressions: [{ key: "karpenter.sh/nodepool", operator: "DoesNotExist" }] }
    ])
    assert.deepStrictEqual(
      pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.map(
        (term: { topologyKey: string }) => term.topologyKey
      ),
      ["kubernetes.io/hostname"]
    )
    assert.deepStrictEqual(
      pod.topologySpreadConstraints.map((constraint: { topologyKey: string; maxSkew: number }) => [
        constraint.topologyKey,
        constraint.maxSkew
      ]),
      [["topology.kubernetes.io/zone", 1]]
    )
  })

  it("selects the controller pods from the Deployment, PDB (maxUnavailable 1) and Service alike", () => {
    const deployment = one("Deployment").spec
    const labels = deployment.template.metadata.labels
    const selects = (selector: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => labels[key] === value)
    assert.isTrue(selects(deployment.selector.matchLabels))
    const pdb = one("PodDisruptionBudget").spec
    assert.strictEqual(pdb.maxUnavailable, 1)
    assert.isTrue(selects(pdb.selector.matchLabels))
    assert.isTrue(selects(one("Service").spec.selector))
    for (const term of deployment.template.spec.affinity.podAntiAffinity
      .requiredDuringSchedulingIgnoredDuringExecution) {
      assert.isTrue(selects(term.labelSelector.matchLabels))
    }
  })
})
